// Parses and checks response status lines from the app side of TSGI (PEP 3333 "status"; RFC 9110 §15).

import { TsgiError } from './errors.js';

/** A parsed `"NNN Reason"` status line. */
export interface Status {
  /** 200–599. */
  code: number;
  /** The reason phrase as given (may be empty). */
  reason: string;
}

// Three digits 200-599, one space, then printable text (tab allowed, no controls, nothing above U+00FF).
const STATUS_RE = /^([2-5]\d\d) ([\t\x20-\x7e\x80-\xff]*)$/;

/**
 * Parses an app's status line.
 * @param status - `"200 OK"` form (PEP 3333): a final status code 200–599, one space, a reason phrase.
 * @returns `{ code, reason }`.
 * @throws {TsgiError} code `TSGI_BAD_STATUS` naming the bad value when it is not in that form
 *   (this is what keeps CR/LF/NUL out of the status line on the wire), and for an interim 1xx
 *   status: those are the front server's to send (RFC 9110 §15.2), never an app's final answer.
 */
export function parseStatus(status: string): Status {
  const match = typeof status === 'string' ? STATUS_RE.exec(status) : null;
  if (match === null && typeof status === 'string' && /^1\d\d /.test(status)) {
    throw new TsgiError(
      'TSGI_BAD_STATUS',
      `tsgi: invalid status ${JSON.stringify(status)}: 1xx responses are interim, sent by the front server; answer with 200-599`,
    );
  }
  if (match === null) {
    throw new TsgiError(
      'TSGI_BAD_STATUS',
      `tsgi: invalid status ${JSON.stringify(status)}; use "NNN Reason" like "200 OK"`,
    );
  }
  return { code: Number(match[1]), reason: match[2] ?? '' };
}

/** Status lines already parsed, with their codes: an app answers with a handful of distinct ones. */
const CHECKED_STATUS = new Map<string, number>();
/**
 * Bounds on CHECKED_STATUS: entries (it starts over when full, so an app making up reason phrases
 * cannot grow it, nor lock its usual lines out) and the length of a line worth keeping.
 */
const CHECKED_STATUS_LIMIT = 256;
const CHECKED_STATUS_MAX_LENGTH = 64;

/**
 * The code of an app's status line, checked as {@link parseStatus} does; a status line seen
 * before is a map lookup instead of a regular expression (it runs on every response).
 * @param status - `"200 OK"` form (PEP 3333).
 * @returns the code, 200–599.
 * @throws {TsgiError} code `TSGI_BAD_STATUS`, as `parseStatus`.
 */
export function statusCode(status: string): number {
  const known = CHECKED_STATUS.get(status);
  if (known !== undefined) return known;
  const { code } = parseStatus(status);
  if (status.length <= CHECKED_STATUS_MAX_LENGTH) {
    if (CHECKED_STATUS.size >= CHECKED_STATUS_LIMIT) CHECKED_STATUS.clear();
    CHECKED_STATUS.set(status, code);
  }
  return code;
}

/**
 * Whether a response must go out without body bytes: HEAD requests and 1xx/204/304 responses
 * (RFC 9110 §9.3.2, §15.3.5, §15.4.5; an app cannot answer 1xx, but the fetch adapter asks too).
 */
export function isBodyless(code: number, requestMethod: string): boolean {
  return requestMethod === 'HEAD' || code < 200 || code === 204 || code === 304;
}
