// Turns streams and discrete records into FastCGI bytes with coalesced writes, for either side.
import { FCGI_HEADER_LEN, MAX_RECORD_CONTENT, RecordType } from './constants.js';
import { encodeEndRequestBody, encodeHeader, paddingFor } from './record.js';

/**
 * Where records go: a `net.Socket` fits. `write` returns false when the sink's buffer is full
 * (wait for its 'drain'). With `cork`/`uncork`, writes in between go out together (one `writev`).
 * `writableNeedDrain`, when the sink has it, says the same as the last `write`'s answer.
 */
export interface ByteSink {
  write(chunk: Uint8Array): boolean;
  cork?(): void;
  uncork?(): void;
  readonly writableNeedDrain?: boolean;
}

/** Padding source shared by every record: padding is at most 7 bytes and never written to. */
const ZERO_PADDING = new Uint8Array(8);

/**
 * Content up to this size is copied next to its header into the packed buffer; larger content is
 * written as a view of the caller's bytes (under `cork`), which avoids copying up to 64 KiB a record.
 */
const COPY_THRESHOLD_BYTES = 8 * 1024;

/**
 * Encodes stream data as records (FastCGI spec §3.3, §5.3): content split at 65535 bytes, each
 * record padded to a multiple of 8 with `(-len) & 7` zero bytes. Pure; copies no content.
 * @param data - the bytes to send; empty data gives `[]` (the closing empty record is separate, see
 *   `RecordWriter.endStream`).
 * @returns the pieces to write, in order. For each record: its 8-byte header, a view of its slice
 *   of `data`, then (only when the padding is not 0) a view of a shared zero buffer. Concatenated,
 *   the pieces are the records. Do not write into the padding pieces.
 * @throws {RangeError} when `type` or `requestId` is out of range.
 * @example encodeStream(RecordType.FCGI_STDOUT, 1, new Uint8Array(66000)) // 2 records, 6 pieces
 */
export function encodeStream(type: number, requestId: number, data: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < data.length; start += MAX_RECORD_CONTENT) {
    const content = data.subarray(start, Math.min(start + MAX_RECORD_CONTENT, data.length));
    const paddingLength = paddingFor(content.length);
    const header = new Uint8Array(FCGI_HEADER_LEN);
    encodeHeader(type, requestId, content.length, paddingLength, header);
    pieces.push(header, content);
    if (paddingLength > 0) pieces.push(ZERO_PADDING.subarray(0, paddingLength));
  }
  return pieces;
}

/** Queued bytes past which a turn's records are flushed at once rather than at the end of the turn. */
const BATCH_LIMIT_BYTES = 256 * 1024;

/** END_REQUEST content for the common case, {0, FCGI_REQUEST_COMPLETE}: shared, never written to. */
const END_COMPLETE = encodeEndRequestBody(0, 0);

/**
 * Writes records to a sink with as few writes and syscalls as it can (STYLE habit 4):
 * - records whose content is small are queued during a turn (its synchronous part and every
 *   microtask it queues) and encoded together into one buffer at its end, then handed to the sink
 *   in one `write`: a small response's STDOUT, empty STDOUT and END_REQUEST cost one allocation
 *   and one syscall, and no per-record trip through the stream machinery;
 * - large content is not copied: it goes out as a view between the packed parts, all in one
 *   `writev` under `cork`, so a 64 KiB response is one syscall too;
 * - `flush()` sends the queue at once (before waiting for 'drain', for instance).
 * Every method returns the backpressure signal: false means wait for 'drain' before writing more
 * stream data.
 * @example
 * const writer = new RecordWriter(socket);
 * writer.stream(RecordType.FCGI_STDOUT, 1, head);
 * writer.endStream(RecordType.FCGI_STDOUT, 1);
 * writer.endRequest(1, 0, ProtocolStatus.FCGI_REQUEST_COMPLETE);
 */
export class RecordWriter {
  readonly #sink: ByteSink;
  // The queue, as parallel arrays: no object per record.
  readonly #types: number[] = [];
  readonly #ids: number[] = [];
  readonly #contents: Array<Uint8Array | undefined> = [];
  #queuedBytes = 0;
  /** Bytes of `#queuedBytes` that are copied into the packed buffer (all but large content). */
  #packedBytes = 0;
  #scheduled = false;
  #lastWrite = true;
  /** The end-of-turn flush, made once rather than a closure per turn. */
  readonly #flushAtEndOfTurn = (): void => {
    this.#scheduled = false;
    this.flush();
  };
  /**
   * Schedules the flush from inside the microtask queue: a tick queued there runs only once every
   * microtask has run, including those queued meanwhile. A tick queued directly from a socket
   * callback would run before them, splitting a response whose first record is written at once
   * and whose END_REQUEST follows an `await` (two writes per request, measured with strace).
   */
  readonly #scheduleFlush = (): void => {
    process.nextTick(this.#flushAtEndOfTurn);
  };

  /** @param sink - usually the connection's `net.Socket`. */
  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  /**
   * Writes stream data (STDOUT, STDERR; PARAMS and STDIN from the web-server side) as as many
   * records as it needs (FastCGI spec §5.3). Empty data writes nothing: use `endStream` to close
   * the stream. The sink may hold on to `data` until written, so do not modify it afterwards.
   * @returns false when the caller should wait for 'drain'; true when `data` is empty.
   * @throws {RangeError} when `type` or `requestId` is out of range.
   */
  stream(type: number, requestId: number, data: Uint8Array): boolean {
    if (data.length === 0) return true;
    if (data.length <= MAX_RECORD_CONTENT) return this.#queue(type, requestId, data);
    let ready = true;
    for (let start = 0; start < data.length; start += MAX_RECORD_CONTENT) {
      ready = this.#queue(type, requestId, data.subarray(start, Math.min(start + MAX_RECORD_CONTENT, data.length)));
    }
    return ready;
  }

  /**
   * Writes the empty record that closes a stream (FastCGI spec §3.3 "stream records", §5.3).
   * @returns the backpressure signal.
   */
  endStream(type: number, requestId: number): boolean {
    return this.#queue(type, requestId, undefined);
  }

  /**
   * Writes `{FCGI_END_REQUEST, requestId, {appStatus, protocolStatus}}` (FastCGI spec §5.5). After
   * it the request id is inactive (spec §3.3 "Managing Request IDs").
   * @param appStatus - the CGI-style exit status (spec §6.2), 0 for success.
   * @param protocolStatus - see `ProtocolStatus`; `FCGI_REQUEST_COMPLETE` for a normal end.
   * @returns the backpressure signal.
   */
  endRequest(requestId: number, appStatus: number, protocolStatus: number): boolean {
    const body = appStatus === 0 && protocolStatus === 0 ? END_COMPLETE : encodeEndRequestBody(appStatus, protocolStatus);
    return this.#queue(RecordType.FCGI_END_REQUEST, requestId, body);
  }

  /**
   * Writes one discrete record, e.g. FCGI_GET_VALUES_RESULT or FCGI_UNKNOWN_TYPE with request id 0
   * (FastCGI spec §4), or BEGIN_REQUEST from the web-server side.
   * @param content - at most 65535 bytes (default: empty).
   * @throws {RangeError} when `content` is longer than 65535 bytes.
   */
  record(type: number, requestId: number, content?: Uint8Array): boolean {
    if (content !== undefined && content.length > MAX_RECORD_CONTENT) {
      throw new RangeError(`fastcgi: record content of ${content.length} bytes exceeds ${MAX_RECORD_CONTENT}`);
    }
    if (content !== undefined && content.length > COPY_THRESHOLD_BYTES) return this.stream(type, requestId, content);
    return this.#queue(type, requestId, content);
  }

  /**
   * Writes what is queued: headers, padding and small content packed into one buffer, large
   * content as views between its parts; one `write`, or several under `cork` (one `writev`).
   */
  flush(): void {
    const count = this.#types.length;
    if (count === 0) return;
    const types = this.#types;
    const ids = this.#ids;
    const contents = this.#contents;
    const out = Buffer.allocUnsafe(this.#packedBytes);
    const pieces: Uint8Array[] = [];
    let offset = 0;
    let segment = 0; // where the part of `out` not yet in `pieces` starts
    for (let i = 0; i < count; i++) {
      const content = contents[i];
      const length = content === undefined ? 0 : content.length;
      const padding = paddingFor(length);
      encodeHeader(types[i] as number, ids[i] as number, length, padding, out, offset);
      offset += FCGI_HEADER_LEN;
      if (content !== undefined && length > COPY_THRESHOLD_BYTES) {
        pieces.push(out.subarray(segment, offset), content);
        segment = offset;
      } else if (content !== undefined && length > 0) {
        out.set(content, offset);
        offset += length;
      }
      // Padding is at most 7 bytes: a loop beats Buffer#fill's argument checks.
      for (let end = offset + padding; offset < end; offset++) out[offset] = 0;
    }
    if (segment === 0) pieces.push(out);
    else if (offset > segment) pieces.push(out.subarray(segment, offset));
    // Emptied in place: no new array objects per flush (V8 still drops their element storage).
    types.length = 0;
    ids.length = 0;
    contents.length = 0;
    this.#queuedBytes = 0;
    this.#packedBytes = 0;
    const sink = this.#sink;
    if (pieces.length === 1 || sink.cork === undefined) {
      for (const piece of pieces) this.#lastWrite = sink.write(piece);
      return;
    }
    sink.cork();
    for (const piece of pieces) this.#lastWrite = sink.write(piece);
    sink.uncork?.();
  }

  #queue(type: number, requestId: number, content: Uint8Array | undefined): boolean {
    if (type < 0 || type > 0xff || requestId < 0 || requestId > 0xffff) {
      throw new RangeError(`fastcgi: record type ${type} or request id ${requestId} out of range`);
    }
    this.#types.push(type);
    this.#ids.push(requestId);
    this.#contents.push(content);
    const length = content === undefined ? 0 : content.length;
    const framing = FCGI_HEADER_LEN + paddingFor(length);
    this.#queuedBytes += framing + length;
    this.#packedBytes += length > COPY_THRESHOLD_BYTES ? framing : framing + length;
    if (this.#queuedBytes >= BATCH_LIMIT_BYTES) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#scheduleFlush);
    }
    return this.#ready();
  }

  /** False while the sink wants a 'drain' (its own flag when it has one, else its last answer). */
  #ready(): boolean {
    const needDrain = this.#sink.writableNeedDrain;
    return needDrain === undefined ? this.#lastWrite : !needDrain;
  }
}
