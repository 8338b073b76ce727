// Encodes and parses the CGI response head ("Status:" + header lines), for the app side and the server side; pure.
import { Buffer } from 'node:buffer';
import { TsgiError } from './errors.js';

/** A parsed CGI response head (RFC 3875 §6.2, §6.3). */
export interface CgiHead {
  /** HTTP status code, 100–999. */
  status: number;
  /** Reason phrase from the Status line; `''` when the script sent a code alone. */
  statusText: string;
  /** Header fields in order, names as sent, without the CGI `Status` field; `Location` stays. */
  headers: Array<[string, string]>;
  /** Bytes the head took, including the blank line that ends it; the body starts here. */
  headerBytes: number;
}

/** Largest head `parseCgiHead` accepts, blank line included. */
export const MAX_CGI_HEAD_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
/** RFC 9110 §5.6.2 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values may hold HTAB, SP, visible ASCII and obs-text, never other controls (RFC 9110 §5.5). */
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const STATUS_VALUE = /^([1-9][0-9]{2})(?:[ \t]+(.*))?$/;

/**
 * Builds a CGI response head for stdout or FCGI_STDOUT (RFC 3875 §6.3): `Status: <status>` first,
 * then `Name: value` per header, each line ending CRLF, then the blank line.
 * @param status - `"200 OK"` form, already validated by the caller.
 * @param headers - `[name, value]` pairs, already validated (no CR/LF/NUL, no char above U+00FF).
 * @returns the head as latin1 bytes (one byte per char, as HTTP/1.1 sends field values).
 * @example encodeCgiHead('404 Not Found', [['Content-Type', 'text/plain']])
 *   // "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n"
 */
export function encodeCgiHead(status: string, headers: Array<[string, string]>): Uint8Array {
  let text = `Status: ${status}\r\n`;
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  text += '\r\n';
  return Buffer.from(text, 'latin1');
}

function bad(message: string): TsgiError {
  return new TsgiError('CGI_BAD_RESPONSE', `cgi: ${message}`);
}

function tooLarge(): TsgiError {
  return new TsgiError(
    'CGI_HEAD_TOO_LARGE',
    `cgi: response head is larger than ${MAX_CGI_HEAD_BYTES} bytes without a blank line`,
  );
}

/** Quotes a line for an error message, shortened so a garbage head cannot flood the log. */
function quote(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}

/**
 * Parses the CGI response head at the start of a script's output (RFC 3875 §6.2, §6.3), as the
 * server side does with stdout or the FCGI_STDOUT stream. Call it again with more bytes while it
 * returns `null`.
 * - Lines end with LF or CRLF; the head ends at the first empty line.
 * - `Status: 404 Not Found` sets the status (RFC 3875 §6.3.3) and is removed from `headers`; a
 *   code alone (`Status: 404`) is accepted with an empty `statusText`.
 * - No Status field: 302 Found when a Location field is present (RFC 3875 §6.2.3, §6.2.4),
 *   otherwise 200 OK (RFC 3875 §6.3.3). A local-path Location ("/x", §6.2.2) is not redirected
 *   internally: it is reported as 302 too.
 * - Field values have leading and trailing spaces and tabs trimmed; names keep their case.
 * @param bytes - the output so far, from its first byte.
 * @returns the head, or `null` when the blank line has not arrived yet.
 * @throws {TsgiError} code `CGI_BAD_RESPONSE` naming the line when a line has no colon, a name is
 *   not an HTTP token, a value holds a control character or bare CR, a line is folded, or the
 *   Status field is repeated or not `NNN reason`.
 * @throws {TsgiError} code `CGI_HEAD_TOO_LARGE` when the head runs past 64 KiB.
 */
export function parseCgiHead(bytes: Uint8Array): CgiHead | null {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headers: Array<[string, string]> = [];
  let status: number | undefined;
  let statusText = '';
  let hasLocation = false;
  let start = 0;
  for (;;) {
    const lf = buf.indexOf(LF, start);
    if (lf === -1) {
      if (buf.length > MAX_CGI_HEAD_BYTES) throw tooLarge();
      return null;
    }
    if (lf + 1 > MAX_CGI_HEAD_BYTES) throw tooLarge();
    const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
    if (end === start) {
      if (status === undefined) {
        status = hasLocation ? 302 : 200;
        statusText = hasLocation ? 'Found' : 'OK';
      }
      return { status, statusText, headers, headerBytes: lf + 1 };
    }
    const line = buf.toString('latin1', start, end);
    start = lf + 1;
    const colon = line.indexOf(':');
    if (colon === -1) throw bad(`response header line has no colon: ${quote(line)}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw bad(
        name.length > 0 && (name[0] === ' ' || name[0] === '\t')
          ? `folded response header lines are not supported: ${quote(line)}`
          : `invalid response header name: ${quote(name)}`,
      );
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE_CHAR.test(value) || value.includes('\r')) {
      throw bad(`response header ${quote(name)} has a control character in its value`);
    }
    const lower = name.toLowerCase();
    if (lower === 'status') {
      if (status !== undefined) throw bad('the Status header is repeated');
      const match = STATUS_VALUE.exec(value);
      if (match === null) throw bad(`invalid Status header: ${quote(value)} (want e.g. "404 Not Found")`);
      status = Number(match[1]);
      statusText = match[2] ?? '';
      continue;
    }
    if (lower === 'location') hasLocation = true;
    headers.push([name, value]);
  }
}
