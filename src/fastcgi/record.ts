// Encodes and decodes FastCGI record headers and discrete record bodies, for both sides; pure codecs.
import { ProtocolError } from '../core/errors.js';
import { FCGI_HEADER_LEN, FCGI_VERSION_1, MAX_RECORD_CONTENT, MAX_RECORD_PADDING } from './constants.js';

/** The fixed 8-byte prefix of every record (FastCGI spec §3.3 `FCGI_Header`). */
export interface RecordHeader {
  /** Protocol version; always `FCGI_VERSION_1` once decoded. */
  version: number;
  /** Record type, see `RecordType`. */
  type: number;
  /** 0 for management records, else the request the record belongs to (0–65535). */
  requestId: number;
  /** Content bytes following the header (0–65535). */
  contentLength: number;
  /** Padding bytes following the content, ignored by receivers (0–255). */
  paddingLength: number;
}

/** Length of the BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies (FastCGI spec §4.2, §5.1, §5.5). */
const BODY_LEN = 8;

/**
 * Padding that ends a record on an 8-byte boundary, as the spec recommends (FastCGI spec §3.3
 * "Padding"): `(-contentLength) & 7`, so 0 → 0, 1 → 7, 8 → 0, 65535 → 1.
 * @param contentLength - content bytes of the record.
 * @returns padding bytes, 0–7.
 */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`fastcgi: ${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/**
 * Writes an 8-byte record header (FastCGI spec §3.3): version 1, type, requestId (big-endian
 * uint16), contentLength (big-endian uint16), paddingLength, a zero reserved byte.
 * @param target - where to write; needs 8 bytes from `offset`.
 * @param offset - byte offset into `target` (default 0).
 * @throws {RangeError} when a field is out of range (type > 255, requestId or contentLength > 65535,
 *   paddingLength > 255) or `target` is too short.
 */
export function encodeHeader(
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
  target: Uint8Array,
  offset = 0,
): void {
  checkUint('record type', type, 255);
  checkUint('request id', requestId, 0xffff);
  checkUint('content length', contentLength, MAX_RECORD_CONTENT);
  checkUint('padding length', paddingLength, MAX_RECORD_PADDING);
  if (offset < 0 || offset + FCGI_HEADER_LEN > target.length) {
    throw new RangeError(`fastcgi: no room for a record header at offset ${offset}`);
  }
  target[offset] = FCGI_VERSION_1;
  target[offset + 1] = type;
  target[offset + 2] = requestId >>> 8;
  target[offset + 3] = requestId & 0xff;
  target[offset + 4] = contentLength >>> 8;
  target[offset + 5] = contentLength & 0xff;
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
}

/**
 * Reads an 8-byte record header (FastCGI spec §3.3). The reserved byte is ignored.
 * @param bytes - holds the header at `offset`.
 * @param offset - byte offset into `bytes` (default 0).
 * @throws {ProtocolError} code `FCGI_BAD_VERSION` ("fastcgi: invalid header version 2") when the
 *   version byte is not `FCGI_VERSION_1`.
 * @throws {RangeError} when fewer than 8 bytes are available at `offset` (a caller bug).
 */
export function decodeHeader(bytes: Uint8Array, offset = 0): RecordHeader {
  if (offset < 0 || offset + FCGI_HEADER_LEN > bytes.length) {
    throw new RangeError(`fastcgi: a record header needs 8 bytes at offset ${offset}`);
  }
  const version = bytes[offset]!;
  if (version !== FCGI_VERSION_1) {
    throw new ProtocolError('FCGI_BAD_VERSION', `fastcgi: invalid header version ${version}`);
  }
  return {
    version,
    type: bytes[offset + 1]!,
    requestId: (bytes[offset + 2]! << 8) | bytes[offset + 3]!,
    contentLength: (bytes[offset + 4]! << 8) | bytes[offset + 5]!,
    paddingLength: bytes[offset + 6]!,
  };
}

/**
 * Builds one whole record in one buffer: header, content, then `paddingFor(content.length)` zero
 * bytes (FastCGI spec §3.3). For stream data longer than one record use `encodeStream` (writer.ts).
 * @param content - the record's content (default: empty, as for a stream's closing record).
 * @returns a new buffer of `8 + content.length + padding` bytes.
 * @throws {RangeError} when `content` is longer than 65535 bytes or a header field is out of range.
 * @example encodeRecord(RecordType.FCGI_STDOUT, 1) // 01 06 00 01 00 00 00 00, an empty STDOUT
 */
export function encodeRecord(type: number, requestId: number, content?: Uint8Array): Uint8Array {
  const contentLength = content?.length ?? 0;
  checkUint('content length', contentLength, MAX_RECORD_CONTENT);
  const paddingLength = paddingFor(contentLength);
  const record = new Uint8Array(FCGI_HEADER_LEN + contentLength + paddingLength);
  encodeHeader(type, requestId, contentLength, paddingLength, record, 0);
  if (content !== undefined && contentLength > 0) record.set(content, FCGI_HEADER_LEN);
  return record;
}

/**
 * Builds the 8-byte FCGI_BeginRequestBody (FastCGI spec §5.1): role (big-endian uint16), flags,
 * five zero reserved bytes.
 * @param role - see `Role`, e.g. `Role.FCGI_RESPONDER`.
 * @param flags - `FCGI_KEEP_CONN` or 0.
 * @throws {RangeError} when role > 65535 or flags > 255.
 */
export function encodeBeginRequestBody(role: number, flags: number): Uint8Array {
  checkUint('role', role, 0xffff);
  checkUint('flags', flags, 0xff);
  const body = new Uint8Array(BODY_LEN);
  body[0] = role >>> 8;
  body[1] = role & 0xff;
  body[2] = flags;
  return body;
}

/**
 * Reads an FCGI_BeginRequestBody (FastCGI spec §5.1). The reserved bytes are ignored.
 * @param content - the BEGIN_REQUEST record's content.
 * @returns `role` (see `Role`; unknown roles are returned as-is for the caller to refuse with
 *   FCGI_UNKNOWN_ROLE) and `flags` (test with `FCGI_KEEP_CONN`).
 * @throws {ProtocolError} code `FCGI_BAD_BEGIN_REQUEST` unless the content is exactly 8 bytes.
 */
export function decodeBeginRequestBody(content: Uint8Array): { role: number; flags: number } {
  if (content.length !== BODY_LEN) {
    throw new ProtocolError(
      'FCGI_BAD_BEGIN_REQUEST',
      `fastcgi: FCGI_BEGIN_REQUEST body must be 8 bytes, got ${content.length}`,
    );
  }
  return { role: (content[0]! << 8) | content[1]!, flags: content[2]! };
}

/**
 * Builds the 8-byte FCGI_EndRequestBody (FastCGI spec §5.5): appStatus (big-endian uint32),
 * protocolStatus, three zero reserved bytes.
 * @param appStatus - the exit status a CGI program would have returned (spec §6.2); negative
 *   integers are written as their uint32 two's complement (-1 → 0xffffffff).
 * @param protocolStatus - see `ProtocolStatus`.
 * @throws {RangeError} when appStatus is not an integer in -2^31..2^32-1 or protocolStatus > 255.
 */
export function encodeEndRequestBody(appStatus: number, protocolStatus: number): Uint8Array {
  if (!Number.isInteger(appStatus) || appStatus < -0x80000000 || appStatus > 0xffffffff) {
    throw new RangeError(`fastcgi: appStatus must be a 32-bit integer, got ${appStatus}`);
  }
  checkUint('protocol status', protocolStatus, 0xff);
  const body = new Uint8Array(BODY_LEN);
  new DataView(body.buffer).setUint32(0, appStatus >>> 0);
  body[4] = protocolStatus;
  return body;
}

/**
 * Reads an FCGI_EndRequestBody (FastCGI spec §5.5). The reserved bytes are ignored.
 * @returns `appStatus` as an unsigned 32-bit number and `protocolStatus` (see `ProtocolStatus`).
 * @throws {ProtocolError} code `FCGI_BAD_END_REQUEST` unless the content is exactly 8 bytes.
 */
export function decodeEndRequestBody(content: Uint8Array): { appStatus: number; protocolStatus: number } {
  if (content.length !== BODY_LEN) {
    throw new ProtocolError(
      'FCGI_BAD_END_REQUEST',
      `fastcgi: FCGI_END_REQUEST body must be 8 bytes, got ${content.length}`,
    );
  }
  const appStatus =
    ((content[0]! << 24) | (content[1]! << 16) | (content[2]! << 8) | content[3]!) >>> 0;
  return { appStatus, protocolStatus: content[4]! };
}

/**
 * Builds the 8-byte FCGI_UnknownTypeBody (FastCGI spec §4.2): the unrecognised management record's
 * type, then seven zero reserved bytes. Sent as `{FCGI_UNKNOWN_TYPE, 0, {T}}`.
 * @param type - the type byte that was not understood.
 * @throws {RangeError} when type > 255.
 */
export function encodeUnknownTypeBody(type: number): Uint8Array {
  checkUint('record type', type, 255);
  const body = new Uint8Array(BODY_LEN);
  body[0] = type;
  return body;
}
