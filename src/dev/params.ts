// Turns a node:http request into CGI meta-variables, from the web-server side, as nginx's fastcgi_params would.

import type { IncomingMessage } from 'node:http';

/** A request the dev server refuses itself, with the status to answer. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** Options for {@link requestParams}. */
export interface ParamsOptions {
  /** The app's mount point, `""` or `"/path"` without a trailing slash. */
  scriptName: string;
  /** SERVER_SOFTWARE. */
  software: string;
}

/**
 * The RFC 3875 §4.1 meta-variables for one request received by a node:http server, built the way
 * nginx's stock `fastcgi_params` builds them, so an app sees under the dev server what it will see
 * behind nginx:
 * - PATH_INFO is the percent-decoded path with `.`/`..` resolved and `//` merged (nginx `$uri`),
 *   below SCRIPT_NAME; REQUEST_URI is the raw request-target; QUERY_STRING is raw;
 * - every request header becomes `HTTP_*` (§4.1.18) except `Proxy` (httpoxy) and names containing
 *   `_`, which nginx drops by default (`underscores_in_headers off`) since `X_Y` and `X-Y` would both
 *   become HTTP_X_Y; Content-Type/Content-Length become CONTENT_TYPE/CONTENT_LENGTH;
 * - header values and the query are turned back into bytes (Node reads them as Latin-1) and decoded
 *   as UTF-8, as the daemon decodes FastCGI params (docs/spec.md "environ").
 * @throws {HttpError} 400 for an invalid percent-escape, a NUL byte or a path climbing above the
 *   root; 404 for a path outside `scriptName`.
 */
export function requestParams(req: IncomingMessage, options: ParamsOptions): Record<string, string> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let rawPath = q === -1 ? url : url.slice(0, q);
  if (!rawPath.startsWith('/')) {
    if (rawPath === '*') rawPath = '/'; // OPTIONS * (RFC 9112 §3.2.4)
    else if (URL.canParse(rawPath)) rawPath = new URL(rawPath).pathname; // absolute-form (§3.2.2)
    else throw new HttpError(400, `invalid request target ${JSON.stringify(url)}`);
  }
  const uri = normalizePath(decodePath(rawPath));
  const scriptName = options.scriptName;
  if (scriptName !== '' && uri !== scriptName && !uri.startsWith(`${scriptName}/`)) {
    throw new HttpError(404, `${uri} is outside the app's mount point ${scriptName}`);
  }
  const socket = req.socket;
  const host = req.headers.host;
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: options.software,
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: scriptName,
    PATH_INFO: uri.slice(scriptName.length),
    QUERY_STRING: q === -1 ? '' : utf8(url.slice(q + 1)),
    REQUEST_URI: utf8(url),
    DOCUMENT_URI: uri,
    REQUEST_SCHEME: 'http',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: host !== undefined && host !== '' ? host.replace(/:\d*$/, '') : (socket.localAddress ?? 'localhost'),
    SERVER_PORT: String(socket.localPort ?? ''),
    SERVER_ADDR: socket.localAddress ?? '',
    REMOTE_ADDR: socket.remoteAddress ?? '',
    REMOTE_PORT: String(socket.remotePort ?? ''),
  };
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'proxy' || name.includes('_')) continue;
    const text = utf8(Array.isArray(value) ? value.join(', ') : value);
    if (name === 'content-type') params.CONTENT_TYPE = text;
    else if (name === 'content-length') params.CONTENT_LENGTH = text;
    else params[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = text;
  }
  return params;
}

/** Node decodes the head as Latin-1 (one char per byte): recover the bytes and read them as UTF-8. */
function utf8(latin1: string): string {
  return /[\x80-\xff]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

function isHex(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66);
}

/** Percent-decodes a path to bytes, then reads them as UTF-8 (invalid sequences → U+FFFD). */
function decodePath(raw: string): string {
  const src = Buffer.from(raw, 'latin1');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i] as number;
    if (byte !== 0x25) {
      out[n++] = byte;
    } else if (i + 2 < src.length && isHex(src[i + 1] as number) && isHex(src[i + 2] as number)) {
      out[n++] = Number.parseInt(src.toString('latin1', i + 1, i + 3), 16);
      i += 2;
    } else {
      throw new HttpError(400, `invalid percent-escape in path ${JSON.stringify(raw)}`);
    }
  }
  const path = out.toString('utf8', 0, n);
  if (path.includes('\0')) throw new HttpError(400, 'NUL byte in path');
  return path;
}

/** Resolves `.` and `..` and merges repeated slashes, as nginx does for `$uri`. */
function normalizePath(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '..') {
      if (out.length === 0) throw new HttpError(400, 'path climbs above the root');
      out.pop();
    } else if (segment !== '' && segment !== '.') {
      out.push(segment);
      continue;
    }
    if (last) out.push('');
  }
  return `/${out.join('/')}`;
}
