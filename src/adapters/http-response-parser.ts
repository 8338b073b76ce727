// Parses the HTTP/1.1 response a node:http ServerResponse writes, incrementally, from the client side; pure.
//
// Node writes one response per exchange: a head (RFC 9112 §4, §5), then a body framed by
// Transfer-Encoding: chunked (§7.1), Content-Length (§6.2) or the end of the connection (§6.3 rule 8).
// Interim 1xx heads (writeContinue, writeEarlyHints) come before the final one and are skipped.

import { TsgiError } from '../core/errors.js';

/** The final response head. */
export interface ResponseHead {
  /** 200–599 (1xx heads are skipped, 101 is refused). */
  status: number;
  /** The reason phrase as written (Latin-1), possibly empty. */
  reason: string;
  /** Header fields in order, repeats kept, names as written. */
  headers: Array<[string, string]>;
}

/** What one `push` or `finish` found, in order. */
export type ParseEvent =
  | { type: 'head'; head: ResponseHead }
  /** A view into the pushed bytes: valid until the caller lets the writer reuse them. */
  | { type: 'data'; data: Uint8Array }
  | { type: 'end' };

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = new Uint8Array(0);
/** Default bound on one head (status line + fields) and on one chunk-size or trailer line. */
export const MAX_HEAD_BYTES = 1024 * 1024;

/**
 * An incremental parser for one HTTP/1.1 response. Feed it whatever the socket received with `push`,
 * and `finish` at end of stream; each returns the events found. Lines may straddle pushes; body data
 * is returned as views, never copied.
 * @example
 * const parser = new HttpResponseParser('GET');
 * for (const event of parser.push(bytes)) if (event.type === 'data') use(event.data);
 */
export class HttpResponseParser {
  readonly #method: string;
  readonly #maxHeadBytes: number;
  #state = State.Head;
  /** Bytes of an unfinished line carried over between pushes. */
  #partial: Uint8Array = EMPTY;
  #lines: string[] = [];
  #headBytes = 0;
  #remaining = 0;

  /**
   * @param method - the request method: a response to HEAD has no body whatever its head says
   *   (RFC 9110 §9.3.2).
   * @param maxHeadBytes - refuse heads larger than this. Default {@link MAX_HEAD_BYTES}.
   */
  constructor(method: string, maxHeadBytes = MAX_HEAD_BYTES) {
    this.#method = method;
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** True once the response is complete (its body ended by its own framing or by `finish`). */
  get complete(): boolean {
    return this.#state === State.Done;
  }

  /** True once the final head was parsed. */
  get headParsed(): boolean {
    return this.#state !== State.Head;
  }

  /**
   * Parses more response bytes.
   * @throws {TsgiError} code `TSGI_NODE_BAD_RESPONSE` for bytes that are not an HTTP/1.1 response
   *   (a bad status line, field or chunk size, an oversized head, 101 Switching Protocols).
   */
  push(bytes: Uint8Array): ParseEvent[] {
    const events: ParseEvent[] = [];
    let offset = 0;
    while (offset < bytes.length && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Head:
        case State.ChunkSize:
        case State.Trailers: {
          const end = bytes.indexOf(LF, offset);
          const piece = bytes.subarray(offset, end === -1 ? bytes.length : end);
          offset = end === -1 ? bytes.length : end + 1;
          this.#headBytes += piece.length + 1;
          if (this.#headBytes > this.#maxHeadBytes) fail(`a response head or line exceeds ${this.#maxHeadBytes} bytes`);
          if (end === -1) {
            this.#partial = concat(this.#partial, piece);
            break;
          }
          let line = this.#partial.length === 0 ? piece : concat(this.#partial, piece);
          this.#partial = EMPTY;
          if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
          this.#line(Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1'), events);
          break;
        }
        case State.Length:
        case State.ChunkData: {
          const take = Math.min(this.#remaining, bytes.length - offset);
          events.push({ type: 'data', data: bytes.subarray(offset, offset + take) });
          offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            if (this.#state === State.Length) this.#end(events);
            else this.#state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // The CRLF after chunk data (RFC 9112 §7.1); tolerate a bare LF.
          const byte = bytes[offset++];
          if (byte === LF) this.#state = State.ChunkSize;
          else if (byte !== CR) fail('missing CRLF after chunk data');
          break;
        }
        case State.UntilClose:
          events.push({ type: 'data', data: bytes.subarray(offset) });
          offset = bytes.length;
          break;
      }
    }
    return events;
  }

  /**
   * The writer ended the stream. A close-delimited body ends here; anything else unfinished is an
   * incomplete response.
   * @throws {TsgiError} code `TSGI_NODE_NO_RESPONSE` when no head was complete, `TSGI_NODE_TRUNCATED`
   *   when the body ended short of its framing.
   */
  finish(): ParseEvent[] {
    if (this.#state === State.Done) return [];
    if (this.#state === State.UntilClose) {
      const events: ParseEvent[] = [];
      this.#end(events);
      return events;
    }
    if (this.#state === State.Head) {
      throw new TsgiError('TSGI_NODE_NO_RESPONSE', 'tsgi: node adapter: the connection ended before a response head');
    }
    throw new TsgiError('TSGI_NODE_TRUNCATED', 'tsgi: node adapter: the connection ended before the response body was complete');
  }

  #line(line: string, events: ParseEvent[]): void {
    if (this.#state === State.ChunkSize) {
      // chunk-size [ chunk-ext ] (RFC 9112 §7.1.1): extensions are ignored.
      const size = line.split(';', 1)[0]?.trim() ?? '';
      if (!/^[0-9A-Fa-f]{1,12}$/.test(size)) fail(`invalid chunk size ${JSON.stringify(line)}`);
      this.#remaining = Number.parseInt(size, 16);
      this.#headBytes = 0;
      this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
      return;
    }
    if (this.#state === State.Trailers) {
      if (line === '') this.#end(events); // trailer fields are dropped: TSGI 1.0 has none
      return;
    }
    if (line !== '') {
      this.#lines.push(line);
      return;
    }
    if (this.#lines.length === 0) return; // tolerate a stray empty line before the status line
    const head = parseHead(this.#lines);
    this.#lines = [];
    this.#headBytes = 0;
    if (head.status === 101) fail('101 Switching Protocols: upgrades are not supported through TSGI');
    if (head.status < 200) return; // an interim response (RFC 9110 §15.2): wait for the final one
    events.push({ type: 'head', head });
    this.#frame(head, events);
  }

  /** Chooses how the body is delimited (RFC 9112 §6.3). */
  #frame(head: ResponseHead, events: ParseEvent[]): void {
    if (this.#method === 'HEAD' || head.status === 204 || head.status === 304) {
      this.#end(events);
      return;
    }
    const codings = fieldValues(head, 'transfer-encoding');
    if (codings.length > 0) {
      this.#state = codings[codings.length - 1] === 'chunked' ? State.ChunkSize : State.UntilClose;
      return;
    }
    const lengths = fieldValues(head, 'content-length');
    if (lengths.length > 0) {
      const length = lengths[0] ?? '';
      if (!/^\d{1,15}$/.test(length) || lengths.some((value) => value !== length)) fail(`invalid Content-Length ${JSON.stringify(length)}`);
      this.#remaining = Number(length);
      if (this.#remaining === 0) this.#end(events);
      else this.#state = State.Length;
      return;
    }
    this.#state = State.UntilClose;
  }

  #end(events: ParseEvent[]): void {
    this.#state = State.Done;
    events.push({ type: 'end' });
  }
}

/** Status line and fields (RFC 9112 §4, §5.1); no obs-fold, which Node never writes. */
function parseHead(lines: string[]): ResponseHead {
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (match === null) fail(`invalid status line ${JSON.stringify(lines[0])}`);
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) fail(`invalid header line ${JSON.stringify(line)}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers };
}

/** The comma-separated, lower-cased members of every field named `name`. */
function fieldValues(head: ResponseHead, name: string): string[] {
  const values: string[] = [];
  for (const [field, value] of head.headers) {
    if (field.toLowerCase() !== name) continue;
    for (const member of value.split(',')) values.push(member.trim().toLowerCase());
  }
  return values;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice(); // a copy: `b` is a view the writer may reuse
  const all = new Uint8Array(a.length + b.length);
  all.set(a, 0);
  all.set(b, a.length);
  return all;
}

function fail(message: string): never {
  throw new TsgiError('TSGI_NODE_BAD_RESPONSE', `tsgi: node adapter: ${message}`);
}
