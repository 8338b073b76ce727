// Splits a FastCGI byte stream into records, for either side: an incremental state machine.
import { ProtocolError } from '../core/errors.js';
import { FCGI_HEADER_LEN } from './constants.js';
import { decodeHeader } from './record.js';

/**
 * Called once per complete record, in stream order; for the record types in
 * `RecordParserOptions.splitTypes`, once per piece of a record's content instead.
 * @param content - the record's content without padding. It is a view into the pushed chunk when
 *   the record lay within one chunk (so it keeps that chunk alive while held), a fresh copy when it
 *   spanned chunks. For split types it is always a view, never empty unless the record is (the
 *   empty record closing a stream comes as one call with empty content). The parser never writes
 *   to it afterwards.
 */
export type RecordHandler = (type: number, requestId: number, content: Uint8Array) => void;

/** Options for {@link RecordParser}. */
export interface RecordParserOptions {
  /**
   * Record types whose content is a byte stream that needs no record boundaries (FastCGI spec
   * §3.3 "stream records": PARAMS, STDIN, DATA from the web server; STDOUT, STDERR from the app):
   * their content is handed on as it arrives, piece by piece as views of the pushed chunks, instead
   * of being copied whole when a record spans chunks. Default: none (every record whole).
   */
  splitTypes?: readonly number[];
}

/** Where the parser is within the current record (FastCGI spec §3.3 `FCGI_Record` layout). */
const State = { HEADER: 0, CONTENT: 1, PADDING: 2 } as const;
type State = (typeof State)[keyof typeof State];

const EMPTY = new Uint8Array(0);
const NO_TYPES: readonly number[] = [];

/** Split tables by the array they were made from: a connection per request need not build one. */
const splitTables = new WeakMap<readonly number[], Uint8Array>();

function splitTable(types: readonly number[]): Uint8Array {
  let table = splitTables.get(types);
  if (table === undefined) {
    table = new Uint8Array(256);
    for (const type of types) if (type >= 0 && type <= 0xff) table[type] = 1;
    splitTables.set(types, table);
  }
  return table;
}

/**
 * Incremental FastCGI record parser (FastCGI spec §3.3). Feed it the bytes of one connection in
 * order with `push`; it calls `onRecord` for each complete record and skips padding. Chunks may
 * split records anywhere, down to one byte at a time. It holds at most one incomplete record's
 * header and content (8 + 65535 bytes); padding is dropped as it arrives.
 *
 * The parser checks only what it needs to frame records (the version byte). Record types, request
 * ids and body shapes are the connection's business.
 * @example
 * const parser = new RecordParser((type, id, content) => console.log(recordTypeName(type), id, content.length));
 * socket.on('data', (chunk) => parser.push(chunk));
 * socket.on('end', () => { if (parser.midRecord) log('fastcgi: connection closed mid-record'); });
 */
export class RecordParser {
  readonly #onRecord: RecordHandler;
  /**
   * Pushed chunks; those before `#first` are used up, and `#headOffset` bytes of `#chunks[#first]`
   * are consumed. An index rather than `shift()` keeps byte-at-a-time input linear.
   */
  #chunks: Uint8Array[] = [];
  #first = 0;
  #headOffset = 0;
  #buffered = 0;
  #state: State = State.HEADER;
  #type = 0;
  #requestId = 0;
  #contentLength = 0;
  #paddingLeft = 0;
  /** 1 at the index of each of `options.splitTypes` (a record type is one byte, spec §3.3). */
  readonly #split: Uint8Array;
  #failure: ProtocolError | null = null;
  readonly #headerScratch = new Uint8Array(FCGI_HEADER_LEN);

  /**
   * @param onRecord - called synchronously from `push` for each complete record (or piece, see
   *   `options.splitTypes`). If it throws, the error propagates out of `push`; the record (piece)
   *   counts as consumed and the parser stays usable.
   * @param options - see {@link RecordParserOptions}.
   */
  constructor(onRecord: RecordHandler, options: RecordParserOptions = {}) {
    this.#onRecord = onRecord;
    this.#split = splitTable(options.splitTypes ?? NO_TYPES);
  }

  /**
   * Feeds the next bytes of the stream. The parser keeps references to `chunk` (no copy) until its
   * bytes are consumed, so the caller must not reuse the buffer (Node's socket chunks are fresh).
   * @throws {ProtocolError} code `FCGI_BAD_VERSION` on a header whose version is not 1. The parser
   *   is then dead: it drops what it held and every later `push` throws a `ProtocolError` with the
   *   same code. The caller should close the connection.
   * @throws whatever `onRecord` throws.
   */
  push(chunk: Uint8Array): void {
    if (this.#failure !== null) {
      throw new ProtocolError(this.#failure.code, `fastcgi: parser stopped by an earlier error: ${this.#failure.message}`, {
        cause: this.#failure,
      });
    }
    if (chunk.length === 0) return;
    if (this.#first > 64 && this.#first * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#state === State.HEADER) {
        if (this.#buffered < FCGI_HEADER_LEN) return;
        this.#readHeader();
      } else if (this.#state === State.CONTENT) {
        if (this.#contentLength > 0 && this.#split[this.#type] === 1) {
          if (this.#buffered === 0) return;
          this.#deliverPiece();
          continue;
        }
        if (this.#buffered < this.#contentLength) return;
        const content = this.#contentLength === 0 ? EMPTY : this.#consume(this.#contentLength);
        this.#state = this.#paddingLeft > 0 ? State.PADDING : State.HEADER;
        // State is advanced first, so a throwing handler leaves the parser consistent.
        this.#onRecord(this.#type, this.#requestId, content);
      } else {
        if (this.#buffered === 0) return;
        const skip = Math.min(this.#buffered, this.#paddingLeft);
        this.#discard(skip);
        this.#paddingLeft -= skip;
        if (this.#paddingLeft === 0) this.#state = State.HEADER;
      }
    }
  }

  /**
   * True while part of a record has arrived but not all of it (header, content or padding). A
   * connection that closes now ended with a truncated record.
   */
  get midRecord(): boolean {
    return this.#state !== State.HEADER || this.#buffered > 0;
  }

  /** Bytes received but not yet delivered or skipped: always less than one record (8 + 65535). */
  get buffered(): number {
    return this.#buffered;
  }

  #readHeader(): void {
    const head = this.#chunks[this.#first]!;
    let bytes: Uint8Array;
    let offset: number;
    if (head.length - this.#headOffset >= FCGI_HEADER_LEN) {
      bytes = head;
      offset = this.#headOffset;
    } else {
      this.#copyInto(this.#headerScratch, FCGI_HEADER_LEN);
      bytes = this.#headerScratch;
      offset = 0;
    }
    let header;
    try {
      header = decodeHeader(bytes, offset);
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    if (bytes !== this.#headerScratch) this.#discard(FCGI_HEADER_LEN);
    this.#type = header.type;
    this.#requestId = header.requestId;
    this.#contentLength = header.contentLength;
    this.#paddingLeft = header.paddingLength;
    this.#state = State.CONTENT;
  }

  /** Hands on the part of a split record's content that is in the first chunk, as a view. */
  #deliverPiece(): void {
    const head = this.#chunks[this.#first]!;
    const take = Math.min(this.#contentLength, head.length - this.#headOffset);
    const piece = head.subarray(this.#headOffset, this.#headOffset + take);
    this.#discard(take);
    this.#contentLength -= take;
    if (this.#contentLength === 0) this.#state = this.#paddingLeft > 0 ? State.PADDING : State.HEADER;
    this.#onRecord(this.#type, this.#requestId, piece);
  }

  #fail(error: unknown): void {
    this.#failure =
      error instanceof ProtocolError ? error : new ProtocolError('FCGI_BAD_RECORD', String(error), { cause: error });
    this.#chunks = [];
    this.#first = 0;
    this.#headOffset = 0;
    this.#buffered = 0;
  }

  /** Takes `n` bytes (n <= buffered): a view when they lie in the first chunk, else a copy. */
  #consume(n: number): Uint8Array {
    const head = this.#chunks[this.#first]!;
    const available = head.length - this.#headOffset;
    if (available >= n) {
      const view = head.subarray(this.#headOffset, this.#headOffset + n);
      this.#discard(n);
      return view;
    }
    const copy = new Uint8Array(n);
    this.#copyInto(copy, n);
    return copy;
  }

  /** Copies the next `n` buffered bytes into `target` and consumes them. */
  #copyInto(target: Uint8Array, n: number): void {
    let written = 0;
    while (written < n) {
      const head = this.#chunks[this.#first]!;
      const take = Math.min(n - written, head.length - this.#headOffset);
      target.set(head.subarray(this.#headOffset, this.#headOffset + take), written);
      written += take;
      this.#discard(take);
    }
  }

  /** Drops `n` bytes (n <= buffered) from the front of the chunk list. */
  #discard(n: number): void {
    this.#buffered -= n;
    let left = n;
    while (left > 0) {
      const head = this.#chunks[this.#first]!;
      const available = head.length - this.#headOffset;
      if (left < available) {
        this.#headOffset += left;
        return;
      }
      left -= available;
      this.#first++;
      this.#headOffset = 0;
    }
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    }
  }
}
