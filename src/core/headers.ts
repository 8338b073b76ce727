// Header rules shared by every transport: validation of app headers and HTTP_* meta-variable names.

import { TsgiError } from './errors.js';
import type { HeaderList } from './types.js';

// RFC 9110 §5.6.2 token.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5 field value as Node's http module accepts it: tab, printable ASCII, obs-text; no CR/LF/NUL.
const VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Hop-by-hop headers an app must not send (PEP 3333 "Other HTTP Features"; RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);

/** True when `name` is an HTTP token (RFC 9110 §5.6.2). */
export function isToken(name: string): boolean {
  return TOKEN_RE.test(name);
}

/**
 * Checks an app's header list before it is accepted by `startResponse`.
 * @param headers - `[name, value]` pairs.
 * @throws {TsgiError} code `TSGI_BAD_HEADER` naming the header when: the list is not an array of
 *   string pairs; a name is not a token; a value holds CR, LF, NUL, another control character or a
 *   character above U+00FF; the name is `Status` (the CGI field, RFC 3875 §6.3.3) or hop-by-hop;
 *   Content-Length is repeated or not a decimal number (RFC 9110 §8.6).
 */
export function validateHeaders(headers: HeaderList): void {
  if (!Array.isArray(headers)) {
    throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: headers must be an array of [name, value] pairs');
  }
  let lengths = 0;
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TsgiError('TSGI_BAD_HEADER', `tsgi: header ${JSON.stringify(pair)} is not a [name, value] pair`);
    }
    const [name, value] = pair;
    if (typeof name !== 'string' || !TOKEN_RE.test(name)) {
      throw new TsgiError('TSGI_BAD_HEADER', `tsgi: invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof value !== 'string' || !VALUE_RE.test(value)) {
      throw new TsgiError(
        'TSGI_BAD_HEADER',
        `tsgi: invalid value for header ${name}: ${JSON.stringify(value)} (no CR, LF, NUL or characters above U+00FF)`,
      );
    }
    const lower = name.toLowerCase();
    if (lower === 'status') {
      throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: "Status" is not a header; pass the status to startResponse');
    }
    if (HOP_BY_HOP.has(lower)) {
      throw new TsgiError('TSGI_BAD_HEADER', `tsgi: hop-by-hop header ${name} is for the server to set, not the app`);
    }
    if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) {
        throw new TsgiError('TSGI_BAD_HEADER', `tsgi: Content-Length must be a decimal byte count, got ${JSON.stringify(value)}`);
      }
      if (++lengths > 1) throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: Content-Length given more than once');
    }
  }
}

/** Finds the first header named `name` (case-insensitive); `undefined` when absent. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lower) return v;
  return undefined;
}

/**
 * The meta-variable name for a request header (RFC 3875 §4.1.18): `Content-MD5` → `HTTP_CONTENT_MD5`.
 */
export function headerToMetaVariable(name: string): string {
  return 'HTTP_' + name.toUpperCase().replace(/-/g, '_');
}

/**
 * The header name for an `HTTP_*` meta-variable, in canonical case: `HTTP_X_FORWARDED_FOR` →
 * `X-Forwarded-For`. Returns `undefined` for names that do not start with `HTTP_`.
 */
export function metaVariableToHeader(key: string): string | undefined {
  if (!key.startsWith('HTTP_') || key.length === 5) return undefined;
  return key
    .slice(5)
    .toLowerCase()
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('-');
}
