// Turns streams and discrete records into FastCGI bytes with coalesced writes, for either side.
import { FCGI_HEADER_LEN, MAX_RECORD_CONTENT, RecordType } from './constants.js';
import { encodeEndRequestBody, encodeHeader, encodeRecord, paddingFor } from './record.js';

/**
 * Where records go: a `net.Socket` fits. `write` returns false when the sink's buffer is full
 * (wait for its 'drain'). With `cork`/`uncork`, writes in between go out together (one `writev`).
 */
export interface ByteSink {
  write(chunk: Uint8Array): boolean;
  cork?(): void;
  uncork?(): void;
}

/** Padding source shared by every record: padding is at most 7 bytes and never written to. */
const ZERO_PADDING = new Uint8Array(8);

/**
 * Content up to this size is copied next to its header into one buffer; larger content is written
 * as separate pieces under `cork`, which avoids copying up to 64 KiB per record.
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

/**
 * Writes records to a sink with as few writes and syscalls as it can (STYLE habit 4):
 * - a record's header, content and padding always go out together: small content is copied into
 *   one buffer; large content is written as pieces under `cork`;
 * - every record written in one synchronous turn is batched: the first write of a turn corks the
 *   sink and `process.nextTick` uncorks it, so a small response's STDOUT, empty STDOUT and
 *   END_REQUEST leave in one `writev`.
 * Sinks without `cork` get one `write` per record (content copied).
 * Every method returns the sink's backpressure signal: false means wait for 'drain' before
 * writing more stream data.
 * @example
 * const writer = new RecordWriter(socket);
 * writer.stream(RecordType.FCGI_STDOUT, 1, head);
 * writer.endStream(RecordType.FCGI_STDOUT, 1);
 * writer.endRequest(1, 0, ProtocolStatus.FCGI_REQUEST_COMPLETE);
 */
export class RecordWriter {
  readonly #sink: ByteSink;
  #corked = false;

  /** @param sink - usually the connection's `net.Socket`. */
  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  /**
   * Writes stream data (STDOUT, STDERR; PARAMS and STDIN from the web-server side) as as many
   * records as it needs (FastCGI spec §5.3). Empty data writes nothing: use `endStream` to close
   * the stream. The sink may hold on to `data` until written, so do not modify it afterwards.
   * @returns false when the sink wants the caller to wait for 'drain'; true when `data` is empty.
   * @throws {RangeError} when `type` or `requestId` is out of range.
   */
  stream(type: number, requestId: number, data: Uint8Array): boolean {
    if (data.length === 0) return true;
    if (data.length <= COPY_THRESHOLD_BYTES || this.#sink.cork === undefined) {
      if (data.length <= MAX_RECORD_CONTENT) return this.#write(encodeRecord(type, requestId, data));
      let ok = true;
      for (let start = 0; start < data.length; start += MAX_RECORD_CONTENT) {
        const slice = data.subarray(start, Math.min(start + MAX_RECORD_CONTENT, data.length));
        ok = this.#write(encodeRecord(type, requestId, slice));
      }
      return ok;
    }
    let ok = true;
    for (const piece of encodeStream(type, requestId, data)) ok = this.#write(piece);
    return ok;
  }

  /**
   * Writes the empty record that closes a stream (FastCGI spec §3.3 "stream records", §5.3).
   * @returns the sink's backpressure signal.
   */
  endStream(type: number, requestId: number): boolean {
    return this.#write(encodeRecord(type, requestId));
  }

  /**
   * Writes `{FCGI_END_REQUEST, requestId, {appStatus, protocolStatus}}` (FastCGI spec §5.5). After
   * it the request id is inactive (spec §3.3 "Managing Request IDs").
   * @param appStatus - the CGI-style exit status (spec §6.2), 0 for success.
   * @param protocolStatus - see `ProtocolStatus`; `FCGI_REQUEST_COMPLETE` for a normal end.
   * @returns the sink's backpressure signal.
   */
  endRequest(requestId: number, appStatus: number, protocolStatus: number): boolean {
    const body = encodeEndRequestBody(appStatus, protocolStatus);
    return this.#write(encodeRecord(RecordType.FCGI_END_REQUEST, requestId, body));
  }

  /**
   * Writes one discrete record, e.g. FCGI_GET_VALUES_RESULT or FCGI_UNKNOWN_TYPE with request id 0
   * (FastCGI spec §4), or BEGIN_REQUEST from the web-server side.
   * @param content - at most 65535 bytes (default: empty).
   * @throws {RangeError} when `content` is longer than 65535 bytes.
   */
  record(type: number, requestId: number, content?: Uint8Array): boolean {
    return this.#write(encodeRecord(type, requestId, content));
  }

  #write(bytes: Uint8Array): boolean {
    if (!this.#corked && this.#sink.cork !== undefined) {
      this.#corked = true;
      this.#sink.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#sink.uncork?.();
      });
    }
    return this.#sink.write(bytes);
  }
}
