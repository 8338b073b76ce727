// Writes a TSGI request as the HTTP/1.1 bytes node:http's parser reads (head, chunked body framing), from the client's side; stateless.

import type { Environ } from '../core/types.js';
import { requestHeaders, type BodyFraming } from './environ-request.js';

/** Ends a chunk's data (RFC 9112 §7.1). */
export const CRLF = Buffer.from('\r\n');
/** The last chunk and an empty trailer section (RFC 9112 §7.1). */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * The request head (RFC 9112 §3, §5): request line, `Host`, the environ's end-to-end fields
 * (`requestHeaders`: malformed ones are left out and said so on `tsgi.errors`), then
 * `Transfer-Encoding: chunked` for a body of unknown length.
 * @param environ - the request.
 * @param target - the request-target in origin form (`requestTarget`).
 * @param host - the Host field value, already checked.
 * @param framing - how the body is delimited (`bodyFraming`).
 * @returns the head as UTF-8 bytes, ending with the empty line.
 */
export function requestHead(environ: Environ, target: string, host: string, framing: BodyFraming): Buffer {
  const version = environ.SERVER_PROTOCOL === 'HTTP/1.0' ? '1.0' : '1.1';
  let head = `${environ.REQUEST_METHOD} ${target} HTTP/${version}\r\nHost: ${host}\r\n`;
  const dropped = (name: string, reason: string): void =>
    environ['tsgi.errors'].write(`tsgi: node adapter: request header ${name} left out: ${reason}\n`);
  for (const [name, value] of requestHeaders(environ, dropped)) head += `${name}: ${value}\r\n`;
  if (framing.kind === 'stream') head += 'Transfer-Encoding: chunked\r\n';
  // UTF-8 gives back the bytes the front server received (the environ decoded them as UTF-8);
  // Node's parser then reads them as Latin-1, exactly as it would from a TCP client.
  return Buffer.from(`${head}\r\n`, 'utf8');
}

/** The chunk-size line that goes before `bytes` bytes of chunk data (RFC 9112 §7.1). */
export function chunkSizeLine(bytes: number): Buffer {
  return Buffer.from(`${bytes.toString(16)}\r\n`, 'latin1');
}
