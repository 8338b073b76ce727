// Describes the HTTP request an environ stands for (URL, request-target, headers, body framing), from the app side.
//
// Both adapters turn an environ back into an HTTP request (a fetch `Request`, or bytes for node:http),
// so the rules live here once: docs/spec.md "URL reconstruction", RFC 3875 §4.1.18 for header names,
// and RFC 9110 §7.6.1 for the hop-by-hop fields that never cross the front server.

import { HOP_BY_HOP, isToken, metaVariableToHeader } from '../core/headers.js';
import type { Environ } from '../core/types.js';

/** How the request body is delimited once rebuilt as HTTP. */
export type BodyFraming =
  /** No body: no CONTENT_LENGTH and no Transfer-Encoding (RFC 3875 §4.2: no length, no body). */
  | { kind: 'none' }
  /** CONTENT_LENGTH bytes (may be 0). */
  | { kind: 'length'; length: number }
  /** Unknown length, read to the end of `tsgi.input` (nginx `fastcgi_request_buffering off`, chunked upload). */
  | { kind: 'stream' };

/** A header the helper left out, and why; adapters report these to `tsgi.errors`. */
export type DroppedHeader = (name: string, reason: string) => void;

// Request fields that describe the client's connection, or that the front server already acted on:
// RFC 9110 §7.6.1 hop-by-hop fields, plus Expect (the front server answered 100-continue, docs/spec.md
// "HTTP features") and HTTP2-Settings (RFC 7540 §3.2.1, an h2c upgrade the front server handled).
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'expect', 'http2-settings', 'proxy-connection']);
// RFC 9110 §5.5 field value as it can travel in an HTTP/1.1 head: no CR, LF, NUL or other controls.
const FIELD_VALUE_RE = /^[\t\x20-\x7e\x80-\uffff]*$/;
// Query characters that cannot appear raw in a request-target (RFC 3986 §3.4 plus `%`, kept as is).
const QUERY_UNSAFE_RE = /[^!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]/gu;

/**
 * Percent-encodes a decoded path (docs/spec.md "URL reconstruction"): like `encodeURI`, plus `?` and
 * `#`, which would end the path. Lone surrogates (impossible in a UTF-8-decoded environ, possible if
 * middleware wrote one) become U+FFFD instead of making `encodeURI` throw.
 * @param path - a decoded path such as `"/a b/ü"`.
 * @returns `"/a%20b/%C3%BC"`.
 */
export function encodePath(path: string): string {
  let encoded: string;
  try {
    encoded = encodeURI(path);
  } catch {
    encoded = encodeURI(path.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
  }
  return encoded.replace(/[?#]/g, encodeURIComponent);
}

/**
 * The request-target in origin form (RFC 9112 §3.2.1): the re-quoted path and `?QUERY_STRING`.
 * QUERY_STRING is still encoded (RFC 3875 §4.1.7) and is kept as is, except that characters that
 * cannot appear raw in a URL (space, `#`, controls, non-ASCII) are percent-encoded as UTF-8.
 * @param environ - the request.
 * @param includeScriptName - start the path with SCRIPT_NAME (default true); false gives the path
 *   relative to the mount point, `"/"` at least.
 */
export function requestTarget(environ: Environ, includeScriptName = true): string {
  const path = (includeScriptName ? environ.SCRIPT_NAME : '') + environ.PATH_INFO;
  const query = environ.QUERY_STRING;
  const encoded = encodePath(path === '' ? '/' : path);
  return query === '' ? encoded : `${encoded}?${query.replace(QUERY_UNSAFE_RE, encodeChar)}`;
}

function encodeChar(char: string): string {
  try {
    return encodeURIComponent(char);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: U+FFFD, as a UTF-8 decoder would have produced
  }
}

/**
 * The Host of the request: HTTP_HOST when the client sent it, else SERVER_NAME with `:SERVER_PORT`
 * unless the port is the scheme's default (docs/spec.md "URL reconstruction", step 2).
 */
export function requestHost(environ: Environ): string {
  const host = environ.HTTP_HOST;
  if (host !== undefined && host !== '') return host;
  const scheme = environ['tsgi.url_scheme'];
  const defaultPort = scheme === 'https' ? '443' : '80';
  return environ.SERVER_PORT === defaultPort ? environ.SERVER_NAME : `${environ.SERVER_NAME}:${environ.SERVER_PORT}`;
}

/**
 * The absolute URL of the request, rebuilt as docs/spec.md "URL reconstruction" says: scheme, Host,
 * SCRIPT_NAME + PATH_INFO re-quoted, `?` + QUERY_STRING.
 * @param includeScriptName - false leaves SCRIPT_NAME out (the path below the mount point).
 * @param host - the Host part, when the caller has {@link requestHost}'s answer already.
 * @example requestUrl(environ) // "https://example.org/app/users/7?full=1"
 */
export function requestUrl(environ: Environ, includeScriptName = true, host = requestHost(environ)): string {
  return `${environ['tsgi.url_scheme']}://${host}${requestTarget(environ, includeScriptName)}`;
}

/**
 * How the request body is delimited: CONTENT_LENGTH when present; otherwise a body of unknown length
 * only when the client sent `Transfer-Encoding` (nginx passes it as HTTP_TRANSFER_ENCODING when it
 * streams a chunked upload unbuffered); otherwise none (RFC 3875 §4.2).
 */
export function bodyFraming(environ: Environ): BodyFraming {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return { kind: 'length', length: Number(length) };
  const te = environ.HTTP_TRANSFER_ENCODING;
  return te !== undefined && te !== '' ? { kind: 'stream' } : { kind: 'none' };
}

/**
 * The request's end-to-end header fields, in canonical case: every `HTTP_*` key (RFC 3875 §4.1.18),
 * then Content-Type and Content-Length. Left out: Host (see {@link requestHost}), hop-by-hop fields
 * and Expect (RFC 9110 §7.6.1; the front server handled them), names that are not tokens, and values
 * holding CR, LF, NUL or other controls (they could not travel in an HTTP head, and would let a
 * crafted FastCGI param inject fields).
 * @param environ - the request.
 * @param dropped - told about each field left out for being malformed.
 * @returns `[name, value]` pairs; values are the environ's strings (UTF-8-decoded).
 */
export function requestHeaders(environ: Environ, dropped?: DroppedHeader): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  for (const key in environ) {
    if (!key.startsWith('HTTP_') || key === 'HTTP_HOST') continue;
    const value = environ[key];
    const name = metaVariableToHeader(key);
    if (typeof value !== 'string' || name === undefined) continue;
    if (NOT_FORWARDED.has(name.toLowerCase())) continue;
    if (!isToken(name)) dropped?.(name, 'its name is not an HTTP token');
    else if (!FIELD_VALUE_RE.test(value)) dropped?.(name, 'its value holds a control character');
    else headers.push([name, value]);
  }
  if (environ.CONTENT_TYPE !== undefined) {
    if (FIELD_VALUE_RE.test(environ.CONTENT_TYPE)) headers.push(['Content-Type', environ.CONTENT_TYPE]);
    else dropped?.('Content-Type', 'its value holds a control character');
  }
  if (environ.CONTENT_LENGTH !== undefined) headers.push(['Content-Length', environ.CONTENT_LENGTH]);
  return headers;
}

/** True when `value` can travel as a field value in an HTTP/1.1 head (no CR, LF, NUL or other controls). */
export function isFieldValue(value: string): boolean {
  return FIELD_VALUE_RE.test(value);
}

/**
 * A header value as an HTTP "ByteString": the environ holds header bytes decoded as UTF-8, so a value
 * with characters above U+00FF is turned back into its UTF-8 bytes, one Latin-1 character per byte,
 * which is what `Headers` accepts and what Node's own HTTP parser would have produced.
 */
export function toByteString(value: string): string {
  return /[^\x00-\xff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}
