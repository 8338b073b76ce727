// Header rules shared by every transport: validation of app headers and HTTP_* meta-variable names.

import { TsgiError } from './errors.js';
import type { HeaderList } from './types.js';

// RFC 9110 §5.6.2 token.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5 field value as Node's http module accepts it: tab, printable ASCII, obs-text; no CR/LF/NUL.
const VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Hop-by-hop headers an app must not send (PEP 3333 "Other HTTP Features"; RFC 9110 §7.6.1), but for
 * `Upgrade` in a 426 response (see {@link validateHeaders}).
 */
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

/** What a checked header name is (see CHECKED_NAMES). */
const enum NameKind {
  Ordinary,
  ContentLength,
  /** Hop-by-hop, but required in a 426 response (RFC 9110 §15.5.22). */
  Upgrade,
}

/** 426 Upgrade Required: the one response an app may send `Upgrade` with (RFC 9110 §15.5.22). */
const UPGRADE_REQUIRED = 426;

/**
 * Whether a response field is connection-level for a response of `status`, so that neither an app
 * nor a relay passes it on: a {@link HOP_BY_HOP} field, but `Upgrade` in a 426, where the server
 * MUST send it (RFC 9110 §7.6.1, §15.5.22).
 * @param lower - the field name in lower case.
 * @param status - the response's status code.
 * @returns true when the field must not be sent or relayed with this status.
 */
export function isHopByHopIn(lower: string, status: number): boolean {
  return HOP_BY_HOP.has(lower) && (status !== UPGRADE_REQUIRED || lower !== 'upgrade');
}

/**
 * Header names already checked, by kind: an app sends the same few names on every response, so a
 * name seen before costs a map lookup instead of a regular expression, a lower-casing and a set
 * lookup. Bounded in entries (it starts over when full, so an app making up names cannot grow it,
 * nor lock its usual names out) and in the length of a name worth keeping.
 */
const CHECKED_NAMES = new Map<string, NameKind>();
const CHECKED_NAMES_LIMIT = 512;
const CHECKED_NAME_MAX_LENGTH = 64;

/**
 * Copies an app's header list and each of its pairs, reading every element once. `startResponse`
 * checks the copy and keeps it: the head goes out later (at the first body byte), and a pair the
 * app changes in between must not reach the wire unchecked (response splitting).
 * @param headers - the app's `[name, value]` pairs; anything else is returned as it is, for
 *   {@link validateHeaders} to name.
 * @returns a new array of new two-element arrays (elements that are not two-element arrays are kept).
 */
export function copyHeaders(headers: HeaderList): HeaderList {
  if (!Array.isArray(headers)) return headers;
  const count = headers.length;
  const copy: HeaderList = new Array<[string, string]>(count);
  for (let i = 0; i < count; i++) {
    const pair = headers[i] as [string, string];
    copy[i] = Array.isArray(pair) && pair.length === 2 ? [pair[0], pair[1]] : pair;
  }
  return copy;
}

/**
 * Drops connection-specific fields from response headers made by something other than a TSGI app
 * (a framework's, a FastCGI app's as the dev front relays them), which `startResponse` would reject
 * or a relay must not pass on (docs/spec.md "headers"): the fields {@link isHopByHopIn} names,
 * `Proxy-Connection` (old clients' `Connection` by another name), and every field that `Connection`
 * names (RFC 9110 §7.6.1: "the intermediary MUST remove ... each field-name listed in the
 * Connection header"). The front server frames the body and manages the connection itself. Order
 * and repeats (each Set-Cookie) are kept.
 *
 * `Upgrade` is kept in a 426 response, even when `Connection` names it: there it says which
 * protocols the resource requires, and the server MUST send it (RFC 9110 §15.5.22, §7.8).
 * @param headers - `[name, value]` pairs in any letter case.
 * @param status - the response's status code.
 * @returns a new list without those fields.
 */
export function endToEndHeaders(headers: Iterable<readonly [string, string]>, status: number): HeaderList {
  const pairs = Array.isArray(headers) ? (headers as Array<readonly [string, string]>) : [...headers];
  let named: Set<string> | undefined;
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== 'connection') continue;
    named ??= new Set();
    for (const token of value.split(',')) named.add(token.trim().toLowerCase());
  }
  const kept: HeaderList = [];
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (isHopByHopIn(lower, status) || lower === 'proxy-connection') continue;
    // A 426's Upgrade is the response's own, even when Connection names it.
    if (named?.has(lower) === true && !(lower === 'upgrade' && status === UPGRADE_REQUIRED)) continue;
    kept.push([name, value]);
  }
  return kept;
}

/**
 * Checks an app's header list before it is accepted by `startResponse`.
 * @param headers - `[name, value]` pairs.
 * @param status - the response's status code: `Upgrade` is accepted only with 426 Upgrade Required,
 *   where the server MUST send it (RFC 9110 §15.5.22, §7.8).
 * @returns the Content-Length value when there is one (then a decimal byte count), else undefined.
 * @throws {TsgiError} code `TSGI_BAD_HEADER` naming the header when: the list is not an array of
 *   string pairs; a name is not a token; a value holds CR, LF, NUL, another control character or a
 *   character above U+00FF; the name is `Status` (the CGI field, RFC 3875 §6.3.3) or hop-by-hop
 *   (`Upgrade` outside a 426); Content-Length is repeated or not a decimal number (RFC 9110 §8.6).
 */
export function validateHeaders(headers: HeaderList, status: number): string | undefined {
  if (!Array.isArray(headers)) {
    throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: headers must be an array of [name, value] pairs');
  }
  let contentLength: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TsgiError('TSGI_BAD_HEADER', `tsgi: header ${JSON.stringify(pair)} is not a [name, value] pair`);
    }
    const name: unknown = pair[0];
    const value: unknown = pair[1];
    if (typeof name !== 'string') {
      throw new TsgiError('TSGI_BAD_HEADER', `tsgi: invalid header name ${JSON.stringify(name)}`);
    }
    let kind = CHECKED_NAMES.get(name);
    if (kind === undefined) {
      kind = checkName(name);
      if (name.length <= CHECKED_NAME_MAX_LENGTH) {
        if (CHECKED_NAMES.size >= CHECKED_NAMES_LIMIT) CHECKED_NAMES.clear();
        CHECKED_NAMES.set(name, kind);
      }
    }
    if (typeof value !== 'string' || !VALUE_RE.test(value)) {
      throw new TsgiError(
        'TSGI_BAD_HEADER',
        `tsgi: invalid value for header ${name}: ${JSON.stringify(value)} (no CR, LF, NUL or characters above U+00FF)`,
      );
    }
    if (kind === NameKind.ContentLength) {
      if (!/^\d{1,15}$/.test(value)) {
        throw new TsgiError('TSGI_BAD_HEADER', `tsgi: Content-Length must be a decimal byte count, got ${JSON.stringify(value)}`);
      }
      if (contentLength !== undefined) throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: Content-Length given more than once');
      contentLength = value;
    } else if (kind === NameKind.Upgrade && status !== UPGRADE_REQUIRED) {
      throw hopByHop(name);
    }
  }
  return contentLength;
}

/** The checks on a header name alone; @returns its kind. @throws {TsgiError} `TSGI_BAD_HEADER`. */
function checkName(name: string): NameKind {
  if (!TOKEN_RE.test(name)) {
    throw new TsgiError('TSGI_BAD_HEADER', `tsgi: invalid header name ${JSON.stringify(name)}`);
  }
  const lower = name.toLowerCase();
  if (lower === 'status') {
    throw new TsgiError('TSGI_BAD_HEADER', 'tsgi: "Status" is not a header; pass the status to startResponse');
  }
  if (lower === 'upgrade') return NameKind.Upgrade;
  if (HOP_BY_HOP.has(lower)) throw hopByHop(name);
  return lower === 'content-length' ? NameKind.ContentLength : NameKind.Ordinary;
}

function hopByHop(name: string): TsgiError {
  return new TsgiError('TSGI_BAD_HEADER', `tsgi: hop-by-hop header ${name} is for the server to set, not the app`);
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
