// Reads the response head node:http stored on a ServerResponse (`_header`): status, fields, body length.

import { TsgiError } from '../core/errors.js';
import type { ResponseHead } from './http-response-parser.js';

/** The parts of a ServerResponse that `takeHead` reads: its serialized head, as Node stored it. */
export interface StoredHead {
  /** `HTTP/1.1 200 OK\r\nName: value\r\n…\r\n\r\n`, Latin-1 (Node refuses characters above U+00FF). */
  readonly _header: string | null;
}

/**
 * Status and fields of a head as node:http serialises it (`_header`): a status line, then one
 * `Name: value` per line, CRLF-terminated, with no obs-fold (RFC 9112 §4, §5). Values are trimmed
 * as a client's parser would.
 * @throws {TsgiError} `TSGI_NODE_BAD_RESPONSE` for a malformed status or header line, a 101
 *   (upgrades do not pass through TSGI) or an interim (1xx) status as the final one.
 */
export function headOf(text: string): ResponseHead {
  const lineEnd = text.indexOf('\r\n');
  const statusLine = lineEnd === -1 ? text : text.slice(0, lineEnd);
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (match === null) throw badResponse(`invalid status line ${JSON.stringify(statusLine)}`);
  const status = Number(match[1]);
  if (status === 101) throw badResponse('101 Switching Protocols: upgrades are not supported through TSGI');
  if (status < 200) throw badResponse(`${status} is an interim status; the listener sent no final response`);
  const headers: Array<[string, string]> = [];
  let start = lineEnd + 2;
  while (lineEnd !== -1 && start < text.length) {
    const end = text.indexOf('\r\n', start);
    if (end === -1 || end === start) break;
    const colon = text.indexOf(':', start);
    if (colon <= start || colon > end) throw badResponse(`invalid header line ${JSON.stringify(text.slice(start, end))}`);
    headers.push([text.slice(start, colon), text.slice(colon + 1, end).trim()]);
    start = end + 2;
  }
  return { status, reason: match[2] ?? '', headers };
}

/**
 * The body length the head declares (RFC 9112 §6.3): -1 when Transfer-Encoding is present or there
 * is no Content-Length.
 * @throws {TsgiError} `TSGI_NODE_BAD_RESPONSE` for a malformed or conflicting Content-Length.
 */
export function contentLength(head: ResponseHead): number {
  let length: string | undefined;
  let conflict = false;
  for (const [name, value] of head.headers) {
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -1;
    if (name.length !== 14 || name.toLowerCase() !== 'content-length') continue;
    for (const member of value.split(',')) {
      const trimmed = member.trim();
      if (length !== undefined && trimmed !== length) conflict = true;
      length ??= trimmed;
    }
  }
  if (length === undefined) return -1;
  if (conflict || !/^\d{1,15}$/.test(length)) throw badResponse(`invalid Content-Length ${JSON.stringify(length)}`);
  return Number(length);
}

function badResponse(message: string): TsgiError {
  return new TsgiError('TSGI_NODE_BAD_RESPONSE', `tsgi: node adapter: ${message}`);
}

/**
 * The error for an incomplete response, `TSGI_NODE_TRUNCATED`: it ended before its Content-Length
 * (`'length'`), or the connection was closed or ended before the response was (`'closed'`: Express's
 * answer to an error after the head, finalhandler's `req.socket.destroy()`, with or without a length).
 */
export function truncated(why: 'length' | 'closed'): TsgiError {
  return new TsgiError(
    'TSGI_NODE_TRUNCATED',
    why === 'length'
      ? 'tsgi: node adapter: the response ended before its Content-Length was sent'
      : 'tsgi: node adapter: the connection was closed before the response was complete',
  );
}
