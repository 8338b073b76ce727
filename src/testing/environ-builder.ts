// Builds an Environ for a request described by method/URL/headers/body, for tests (the client side).

import { buildEnviron } from '../core/environ.js';
import { headerToMetaVariable } from '../core/headers.js';
import { BodyInput } from '../core/input.js';
import type { Environ, ErrorStream } from '../core/types.js';

/** A request to turn into an environ. */
export interface TestRequest {
  /** Default `GET`. */
  method?: string;
  /** Path and query, e.g. `/users/7?full=1`; percent-escapes in the path are decoded into PATH_INFO. */
  url?: string;
  /** Request headers; `Content-Type`/`Content-Length` become CONTENT_TYPE/CONTENT_LENGTH. */
  headers?: Record<string, string>;
  /** Request body; CONTENT_LENGTH is set from it unless a Content-Length header is given. */
  body?: Uint8Array | string;
  /** The app's mount point (SCRIPT_NAME), default `""`. The URL's path must start with it. */
  scriptName?: string;
  /** Extra meta-variables (e.g. REMOTE_USER) or extension keys, applied last. */
  extra?: Record<string, string>;
}

/** What {@link makeEnviron} returns: the environ plus handles a test may use. */
export interface BuiltEnviron {
  environ: Environ;
  /** Fires `tsgi.signal` (simulates the client going away). */
  abort(reason?: unknown): void;
  /** What the app wrote to `tsgi.errors`. */
  errors: string[];
}

/**
 * The CGI meta-variables a front server would send for `request` (RFC 3875 §4.1), as strings.
 * Used by {@link makeEnviron}, and by tests that drive the CGI runner or the FastCGI daemon.
 */
export function requestParams(request: TestRequest = {}): Record<string, string> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const body = requestBody(request);
  const scriptName = request.scriptName ?? '';
  const path = decodeURIComponent(url.pathname);
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: request.method ?? 'GET',
    SCRIPT_NAME: scriptName,
    PATH_INFO: path.startsWith(scriptName) ? path.slice(scriptName.length) : path,
    QUERY_STRING: url.search.slice(1),
    REQUEST_URI: url.pathname + url.search,
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_HOST: 'localhost',
  };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'content-type') params.CONTENT_TYPE = value;
    else if (lower === 'content-length') params.CONTENT_LENGTH = value;
    else params[headerToMetaVariable(name)] = value;
  }
  if (body !== undefined && params.CONTENT_LENGTH === undefined) params.CONTENT_LENGTH = String(body.byteLength);
  return Object.assign(params, request.extra);
}

/** The request body as bytes (strings are UTF-8), or undefined. */
export function requestBody(request: TestRequest): Uint8Array | undefined {
  return typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
}

/**
 * Builds a normalised environ the way a front server would (RFC 3875 §4.1), with the body already
 * available on `tsgi.input`.
 * @example
 * const { environ } = makeEnviron({ method: 'POST', url: '/echo', body: 'hi' });
 */
export function makeEnviron(request: TestRequest = {}): BuiltEnviron {
  const params = requestParams(request);
  const body = requestBody(request);
  const controller = new AbortController();
  const errors: string[] = [];
  const errorStream: ErrorStream = { write: (text) => void errors.push(text) };
  const environ = buildEnviron(params, {
    input: (contentLength) => {
      const input = new BodyInput({ contentLength });
      if (body !== undefined) input.push(body);
      input.end();
      return input;
    },
    errors: errorStream,
    signal: controller.signal,
    multithread: false,
    multiprocess: false,
    runOnce: false,
  });
  return { environ, abort: (reason) => controller.abort(reason), errors };
}
