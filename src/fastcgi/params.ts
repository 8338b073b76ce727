// Encodes and decodes FastCGI name-value pairs (PARAMS, GET_VALUES), for both sides; pure codecs.
import { Buffer } from 'node:buffer';
import { ProtocolError } from '../core/errors.js';

/** Name-value pairs in stream order; a name may repeat (FastCGI spec §5.2: "in no specified order"). */
export type ParamPairs = Array<[name: string, value: string]>;

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
  const value =
    (((b3 & 0x7f) << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  return { value, bytesConsumed: 4 };
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
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buf.length;
  const pairs: ParamPairs = [];
  let offset = 0;
  while (offset < end) {
    const pairStart = offset;
    const nameLength = decodeLength(buf, offset);
    if (nameLength === null) throw truncated('name length', pairs.length, pairStart, 'is cut short');
    offset += nameLength.bytesConsumed;
    const valueLength = decodeLength(buf, offset);
    if (valueLength === null) throw truncated('value length', pairs.length, pairStart, 'is cut short');
    offset += valueLength.bytesConsumed;
    const nameEnd = offset + nameLength.value;
    const valueEnd = nameEnd + valueLength.value;
    if (nameEnd > end) {
      throw truncated('name', pairs.length, pairStart, `of ${nameLength.value} bytes runs past the end (${end} bytes)`);
    }
    if (valueEnd > end) {
      throw truncated('value', pairs.length, pairStart, `of ${valueLength.value} bytes runs past the end (${end} bytes)`);
    }
    // Node's UTF-8 decoder has its own ASCII fast path; measured faster than checking for ASCII
    // and taking latin1 (Node 20). Empty strings skip the native call.
    const name = nameEnd === offset ? '' : buf.toString('utf8', offset, nameEnd);
    const value = valueEnd === nameEnd ? '' : buf.toString('utf8', nameEnd, valueEnd);
    pairs.push([name, value]);
    offset = valueEnd;
  }
  return pairs;
}
