// Encodes and decodes FastCGI name-value pairs (PARAMS, GET_VALUES), for both sides; pure codecs.
import { Buffer, isAscii } from 'node:buffer';
import { ProtocolError } from '../core/errors.js';

/** Name-value pairs in stream order; a name may repeat (FastCGI spec §5.2: "in no specified order"). */
export type ParamPairs = Array<[name: string, value: string]>;

/**
 * The same pairs flattened, `[name0, value0, name1, value1, ...]`: one array per request instead
 * of one more per pair (the daemon's PARAMS path, see `buildEnvironFromList`).
 */
export type ParamList = string[];

/** Longest length a 4-byte length can carry: 31 bits (FastCGI spec §3.4). */
const MAX_PARAM_LENGTH = 0x7fffffff;
/** Longest length the 1-byte form can carry (FastCGI spec §3.4). */
const MAX_SHORT_LENGTH = 127;

/**
 * Writes a name or value length (FastCGI spec §3.4): one byte when `n <= 127`, else four bytes,
 * big-endian, with the high bit of the first byte set.
 * @param n - the length in bytes, 0..2^31-1.
 * @param target - where to write; needs 1 or 4 bytes from `offset`.
 * @returns bytes written, 1 or 4.
 * @throws {RangeError} when `n` is negative, not an integer or above 2^31-1.
 * @example encodeLength(128, buf, 0) // writes 80 00 00 80, returns 4
 */
export function encodeLength(n: number, target: Uint8Array, offset: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PARAM_LENGTH) {
    throw new RangeError(`fastcgi: name-value length must be an integer in 0..2^31-1, got ${n}`);
  }
  if (n <= MAX_SHORT_LENGTH) {
    target[offset] = n;
    return 1;
  }
  target[offset] = (n >>> 24) | 0x80;
  target[offset + 1] = (n >>> 16) & 0xff;
  target[offset + 2] = (n >>> 8) & 0xff;
  target[offset + 3] = n & 0xff;
  return 4;
}

/**
 * Reads a name or value length (FastCGI spec §3.4): the high bit of the first byte says whether
 * the length takes one byte or four (`((B3 & 0x7f) << 24) + (B2 << 16) + (B1 << 8) + B0`).
 * @param bytes - the encoded pairs.
 * @param offset - where the length starts.
 * @returns the length and how many bytes it took, or `null` when `bytes` ends before the length
 *   does (more input is needed).
 */
export function decodeLength(
  bytes: Uint8Array,
  offset: number,
): { value: number; bytesConsumed: number } | null {
  if (offset >= bytes.length) return null;
  const b3 = bytes[offset]!;
  if ((b3 & 0x80) === 0) return { value: b3, bytesConsumed: 1 };
  if (offset + 4 > bytes.length) return null;
  return { value: longLength(bytes, offset), bytesConsumed: 4 };
}

/** The 4-byte form of a length at `offset` (FastCGI spec §3.4), its high bit dropped; the caller checked the 4 bytes are there. */
function longLength(bytes: Uint8Array, offset: number): number {
  return (((bytes[offset]! & 0x7f) << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function lengthOfLength(n: number): number {
  return n <= MAX_SHORT_LENGTH ? 1 : 4;
}

/**
 * Encodes name-value pairs as one byte sequence (FastCGI spec §3.4): for each pair, the name's
 * length, the value's length, the name, the value. Names and values are encoded as UTF-8. The
 * result is stream content: split it into records with `encodeStream` (writer.ts).
 * @param pairs - `[name, value]` pairs, in the order to send them.
 * @returns a new buffer holding all the pairs.
 * @throws {RangeError} when a name or value is longer than 2^31-1 bytes.
 * @example encodeParams([['SERVER_PORT', '80']]) // 0b 02 "SERVER_PORT" "80" (spec appendix B)
 */
export function encodeParams(pairs: Iterable<readonly [string, string]>): Uint8Array {
  const list: Array<readonly [string, string]> = [];
  const sizes: number[] = [];
  let total = 0;
  for (const pair of pairs) {
    const nameLength = Buffer.byteLength(pair[0], 'utf8');
    const valueLength = Buffer.byteLength(pair[1], 'utf8');
    list.push(pair);
    sizes.push(nameLength, valueLength);
    total += lengthOfLength(nameLength) + lengthOfLength(valueLength) + nameLength + valueLength;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < list.length; i++) {
    const [name, value] = list[i]!;
    const nameLength = sizes[2 * i]!;
    const valueLength = sizes[2 * i + 1]!;
    offset += encodeLength(nameLength, out, offset);
    offset += encodeLength(valueLength, out, offset);
    offset += out.write(name, offset, nameLength, 'utf8');
    offset += out.write(value, offset, valueLength, 'utf8');
  }
  return out;
}

function truncated(what: string, pairIndex: number, offset: number, detail: string): ProtocolError {
  return new ProtocolError(
    'FCGI_BAD_PARAMS',
    `fastcgi: truncated name-value pair #${pairIndex} at byte ${offset}: ${what} ${detail}`,
  );
}

/**
 * Names front servers send on most requests (RFC 3875 §4.1, nginx and Apache extras, common request
 * headers). A decoded name equal to one of these is that constant string: no string is made for it,
 * and the environ's keyed stores get a name V8 has already internalized.
 */
const KNOWN_NAMES = [
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_ROOT', 'DOCUMENT_URI', 'FCGI_ROLE',
  'GATEWAY_INTERFACE', 'HTTPS', 'PATH_INFO', 'PATH_TRANSLATED', 'QUERY_STRING', 'REDIRECT_STATUS',
  'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_PORT', 'REMOTE_USER', 'REQUEST_METHOD', 'REQUEST_SCHEME',
  'REQUEST_URI', 'SCRIPT_FILENAME', 'SCRIPT_NAME', 'SERVER_ADDR', 'SERVER_ADMIN', 'SERVER_NAME',
  'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SIGNATURE', 'SERVER_SOFTWARE', 'CONTEXT_DOCUMENT_ROOT',
  'CONTEXT_PREFIX', 'UNIQUE_ID', 'HTTP_ACCEPT', 'HTTP_ACCEPT_ENCODING', 'HTTP_ACCEPT_LANGUAGE',
  'HTTP_AUTHORIZATION', 'HTTP_CACHE_CONTROL', 'HTTP_CONNECTION', 'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE', 'HTTP_COOKIE', 'HTTP_HOST', 'HTTP_IF_MODIFIED_SINCE', 'HTTP_IF_NONE_MATCH',
  'HTTP_ORIGIN', 'HTTP_PRAGMA', 'HTTP_PROXY', 'HTTP_REFERER', 'HTTP_TE', 'HTTP_UPGRADE_INSECURE_REQUESTS',
  'HTTP_USER_AGENT', 'HTTP_X_FORWARDED_FOR', 'HTTP_X_FORWARDED_HOST', 'HTTP_X_FORWARDED_PROTO',
  'HTTP_X_REAL_IP', 'HTTP_X_REQUESTED_WITH',
];

/** KNOWN_NAMES by (length, first byte, last byte), for a byte comparison without decoding. */
const KNOWN_BY_KEY = new Map<number, Array<{ name: string; bytes: Buffer }>>();
for (const name of KNOWN_NAMES) {
  const bytes = Buffer.from(name, 'latin1');
  const key = knownKey(bytes, 0, bytes.length);
  const list = KNOWN_BY_KEY.get(key);
  if (list === undefined) KNOWN_BY_KEY.set(key, [{ name, bytes }]);
  else list.push({ name, bytes });
}

function knownKey(bytes: Uint8Array, start: number, end: number): number {
  return (end - start) * 65536 + bytes[start]! * 256 + bytes[end - 1]!;
}

/** The constant string for a known name at `bytes[start, end)`, else undefined. */
function knownName(bytes: Uint8Array, start: number, end: number): string | undefined {
  if (end - start < 5 || end - start > 40) return undefined;
  const candidates = KNOWN_BY_KEY.get(knownKey(bytes, start, end));
  if (candidates === undefined) return undefined;
  outer: for (const candidate of candidates) {
    const known = candidate.bytes;
    for (let i = 1; i < known.length - 1; i++) if (known[i] !== bytes[start + i]) continue outer;
    return candidate.name;
  }
  return undefined;
}

/** The name or value at `buf[start, end)`: UTF-8, invalid sequences as U+FFFD. */
function text(buf: Buffer, start: number, end: number): string {
  // Node's UTF-8 decoder has its own ASCII fast path; measured faster than checking for ASCII and
  // taking latin1 (Node 20). Empty strings skip the native call.
  return end === start ? '' : buf.toString('utf8', start, end);
}

/**
 * Decodes a whole, reassembled name-value pair stream (FastCGI spec §3.4, §5.2): the concatenated
 * content of every PARAMS record up to the empty one, or one GET_VALUES record's content.
 * Names and values are decoded as UTF-8; invalid sequences become U+FFFD, as in Node's
 * `process.env`. Values are not checked for NUL bytes (spec §6.1 says textual values hold none);
 * that is the environ layer's call.
 * @param bytes - the encoded pairs; may be a view into a larger buffer.
 * @returns the pairs in stream order, duplicates kept.
 * @throws {ProtocolError} code `FCGI_BAD_PARAMS` naming the pair and the problem when a length is
 *   cut short or a name or value runs past the end of `bytes`.
 */
export function decodeParams(bytes: Uint8Array): ParamPairs {
  const list = decodeParamList(bytes);
  const pairs: ParamPairs = [];
  for (let i = 0; i < list.length; i += 2) pairs.push([list[i] as string, list[i + 1] as string]);
  return pairs;
}

/**
 * {@link decodeParams} into one flat array, `[name0, value0, name1, value1, ...]`: what the daemon
 * uses per request. Same decoding, same errors.
 * @param bytes - the encoded pairs; may be a view into a larger buffer.
 * @returns names and values alternating, in stream order, duplicates kept.
 * @throws {ProtocolError} code `FCGI_BAD_PARAMS`, as `decodeParams`.
 */
export function decodeParamList(bytes: Uint8Array): ParamList {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buf.length;
  // Sized once from a first pass over the lengths: pushing ~40 strings grows the array three times.
  const list: ParamList = new Array<string>(2 * countPairs(buf, end));
  let filled = 0;
  // Front servers send ASCII almost always: then one string of the whole stream, and each name and
  // value a slice of it (no native call per string); else each is decoded as UTF-8.
  const all = end > 0 && isAscii(buf) ? buf.toString('latin1', 0, end) : undefined;
  let offset = 0;
  while (offset < end) {
    const pairStart = offset;
    // The two lengths, inline (spec §3.4): one byte, or four with the high bit set.
    let nameLength = buf[offset]!;
    if (nameLength > MAX_SHORT_LENGTH) {
      if (offset + 4 > end) throw truncated('name length', filled >> 1, pairStart, 'is cut short');
      nameLength = longLength(buf, offset);
      offset += 4;
    } else {
      offset += 1;
    }
    if (offset >= end) throw truncated('value length', filled >> 1, pairStart, 'is cut short');
    let valueLength = buf[offset]!;
    if (valueLength > MAX_SHORT_LENGTH) {
      if (offset + 4 > end) throw truncated('value length', filled >> 1, pairStart, 'is cut short');
      valueLength = longLength(buf, offset);
      offset += 4;
    } else {
      offset += 1;
    }
    const nameEnd = offset + nameLength;
    const valueEnd = nameEnd + valueLength;
    if (nameEnd > end) {
      throw truncated('name', filled >> 1, pairStart, `of ${nameLength} bytes runs past the end (${end} bytes)`);
    }
    if (valueEnd > end) {
      throw truncated('value', filled >> 1, pairStart, `of ${valueLength} bytes runs past the end (${end} bytes)`);
    }
    const name = knownName(buf, offset, nameEnd) ?? (all !== undefined ? all.slice(offset, nameEnd) : text(buf, offset, nameEnd));
    list[filled] = name;
    list[filled + 1] = all !== undefined ? all.slice(nameEnd, valueEnd) : text(buf, nameEnd, valueEnd);
    filled += 2;
    offset = valueEnd;
  }
  return list;
}

/** How many whole pairs `buf[0, end)` holds (the decoding loop reports a cut one). */
function countPairs(buf: Buffer, end: number): number {
  let pairs = 0;
  let offset = 0;
  while (offset < end) {
    let lengths = 0;
    for (let field = 0; field < 2; field++) {
      if (offset >= end) return pairs;
      const first = buf[offset]!;
      if (first > MAX_SHORT_LENGTH) {
        if (offset + 4 > end) return pairs;
        lengths += longLength(buf, offset);
        offset += 4;
      } else {
        lengths += first;
        offset += 1;
      }
    }
    offset += lengths;
    if (offset > end) return pairs;
    pairs++;
  }
  return pairs;
}
