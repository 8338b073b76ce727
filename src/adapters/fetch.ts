// Runs fetch-style handlers (Request → Response: Hono, itty-router, SvelteKit, Remix) as TSGI apps, from the app side.

import { TsgiError } from '../core/errors.js';
import { endToEndHeaders } from '../core/headers.js';
import { isBodyless } from '../core/status.js';
import type { App, Body, Environ, HeaderList, InputStream, StartResponse } from '../core/types.js';
import { bodyFraming, requestHeaders, requestHost, requestUrl, toByteString } from './environ-request.js';
import { statusLine } from './reason-phrase.js';
import { ResponseBody } from './response-body.js';

export { toFetch, type ToFetchOptions } from './to-fetch.js';

/**
 * A fetch-style handler. The second argument is the TSGI environ of the request, so a handler can
 * read what the front server said (`REMOTE_USER`, `HTTPS`, `tsgi.errors`); Hono exposes it as
 * `c.env`, as it exposes Cloudflare bindings or @hono/node-server's `{ incoming, outgoing }`.
 */
export type FetchHandler = (request: Request, environ: Environ) => Response | Promise<Response>;

/** Options for {@link fromFetch}. */
export interface FetchOptions {
  /**
   * Put SCRIPT_NAME in the Request URL's path. Default false: the handler sees the path below its
   * mount point, as an Express sub-app does, so the same routes match at `/`, at `/app/` and at
   * `/cgi-bin/app.cgi/`; the mount stays readable as `environ.SCRIPT_NAME` (Hono: `c.env`). Set
   * true for handlers that are told their base path themselves (SvelteKit `paths.base`, Hono
   * `basePath()`).
   */
  includeScriptName?: boolean;
}

const TEXT_PLAIN: HeaderList = [['Content-Type', 'text/plain; charset=utf-8']];

/**
 * Turns a fetch-style handler into a TSGI app. For each request:
 * - the `Request` URL is rebuilt from the environ (docs/spec.md "URL reconstruction": scheme, Host,
 *   PATH_INFO re-quoted — below the mount point unless `includeScriptName` — QUERY_STRING); its headers are Host (the URL's),
 *   the `HTTP_*` keys and Content-Type/Content-Length, without hop-by-hop fields (values above U+00FF are passed as their
 *   UTF-8 bytes, as Node would); `request.signal` aborts when `tsgi.signal` does;
 * - the body (not for GET/HEAD, and only when the request has one: see `bodyFraming`) is a
 *   `ReadableStream` that pulls from `tsgi.input` only when the handler reads: nothing is read ahead;
 * - the `Response` status goes out with its `statusText`, or the RFC 9110 reason phrase when that is
 *   empty; its headers without hop-by-hop fields, every Set-Cookie separately (`getSetCookie()`);
 * - its body: what the stream has at once is read first (every read that settles within a few
 *   microtask turns, up to 64 KiB or 64 chunks, plus one read to see the end; never a wait for a
 *   chunk). If that is the whole body, and the app set neither Content-Length nor Transfer-Encoding,
 *   it goes out with `Content-Length` (RFC 9110 §8.6), as node:http does for `res.end(body)`: a
 *   string, bytes, Blob, URLSearchParams, `Response.json()`, Hono's `c.text()`/`c.json()`. Otherwise
 *   what was read goes out first, in order, then the rest is streamed chunk by chunk as the server
 *   pulls (one `read()` per chunk, so a slow client slows the handler's stream down), without a
 *   length (the front server chunks it or closes after it); the reader is cancelled when the server
 *   stops early or the client goes away. A null body is `Content-Length: 0`.
 * - HEAD gets the headers GET would where the body tells them: the length of a complete, non-empty
 *   body (RFC 9110 §9.3.2), none for a null or empty one (Hono answers HEAD with a null body) or a
 *   streaming one, which is cancelled. 204 and 304 get no length (RFC 9110 §8.6) and their body, if
 *   any, is cancelled unread, as is a HEAD body whose length the app set.
 * No global is replaced or patched: Node 20's own Request, Response and ReadableStream are used.
 * @param handler - `(request, environ) => Response`, e.g. Hono's `app.fetch`.
 * @param options - see {@link FetchOptions}.
 * @returns the TSGI app. It answers itself when the environ cannot be expressed as a `Request`,
 *   logging why to `tsgi.errors`: 501 for a method fetch refuses (CONNECT, TRACE, TRACK: WHATWG
 *   fetch "forbidden method"; RFC 9110 §9.1), 400 for anything else (an unparseable Host).
 * @throws (from the app) {TsgiError} code `TSGI_FETCH_BAD_RESPONSE` when the handler resolves with
 *   something that is not a Response; the handler's own errors propagate to the driver (a 500).
 * @see docs/adapters.md
 * @example
 * import { Hono } from 'hono';
 * const hono = new Hono().get('/', (c) => c.text('hi'));
 * export default fromFetch(hono.fetch);
 */
export function fromFetch(handler: FetchHandler, options: FetchOptions = {}): App {
  const includeScriptName = options.includeScriptName ?? false;
  return async (environ, startResponse) => {
    const request = makeRequest(environ, includeScriptName);
    if (typeof request === 'string') {
      environ['tsgi.errors'].write(`tsgi: fetch adapter: ${request}\n`);
      // A method no Request can carry is one no handler here implements (RFC 9110 §9.1: 501), as the
      // node adapter answers CONNECT; anything else the front server passed is a bad request.
      if (FORBIDDEN_METHODS.has(environ.REQUEST_METHOD.toUpperCase())) {
        startResponse('501 Not Implemented', TEXT_PLAIN);
        return ['Not Implemented\n'];
      }
      startResponse('400 Bad Request', TEXT_PLAIN);
      return ['Bad Request\n'];
    }
    const response = await handler(request, environ);
    if (!isResponse(response)) {
      throw new TsgiError(
        'TSGI_FETCH_BAD_RESPONSE',
        `tsgi: fetch adapter: the handler returned ${describe(response)}, expected a Response`,
      );
    }
    return respond(response, environ, startResponse);
  };
}

/**
 * Starts the response and returns its body. A body complete without waiting goes out with its
 * Content-Length (RFC 9110 §8.6), as node:http gives `res.end(body)` one: the front server can then
 * keep an HTTP/1.0 client's connection alive and need not chunk. Anything else streams.
 */
async function respond(response: Response, environ: Environ, startResponse: StartResponse): Promise<Body> {
  const status = statusLine(response.status, response.statusText);
  const headers = responseHeaders(response.headers, response.status);
  const stream = response.body;
  if (stream === null) {
    // Complete and empty: the driver says Content-Length: 0 for [] itself, except for HEAD (the
    // GET's length is unknown: Hono answers HEAD with a null body), 204 and 304.
    startResponse(status, headers);
    return [];
  }
  const head = environ.REQUEST_METHOD === 'HEAD';
  // 1xx and 204 must not carry a length, 304 only the 200's (RFC 9110 §8.6); Node's Response has a
  // null body there (WHATWG fetch "null body status"), a Response-like object may not. A length or
  // Transfer-Encoding the app set is its own framing: the body is not read ahead then.
  const noContent = isBodyless(response.status, ''); // the status alone
  if (noContent || response.headers.has('content-length') || response.headers.has('transfer-encoding')) {
    startResponse(status, headers);
    if (noContent || head) {
      await stream.cancel().catch(() => {});
      return [];
    }
    return new ResponseBody(stream, environ).start();
  }
  const body = new ResponseBody(stream, environ);
  const complete = await body.readAvailable();
  // A complete body goes back as an array, which the driver gives its Content-Length (declareLength).
  // HEAD returns none, so its length is said here: only a body with bytes is the GET's; an empty one
  // may be a handler's way of saying "none".
  if (complete && head && body.byteLength > 0) headers.push(['Content-Length', String(body.byteLength)]);
  startResponse(status, headers);
  if (complete) return head ? [] : body.chunks;
  if (!head) return body.start();
  await body.close();
  return [];
}

/** Methods a `Request` refuses (WHATWG fetch "forbidden method"), matched in upper case. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** The Request for an environ, or why there cannot be one. */
function makeRequest(environ: Environ, includeScriptName: boolean): Request | string {
  const headers = new Headers();
  const host = requestHost(environ);
  const dropped = (name: string, reason: string): void =>
    environ['tsgi.errors'].write(`tsgi: fetch adapter: request header ${name} left out: ${reason}\n`);
  for (const [name, value] of requestHeaders(environ, dropped)) {
    try {
      headers.append(name, toByteString(value));
    } catch (error) {
      dropped(name, error instanceof Error ? error.message : String(error));
    }
  }
  const method = environ.REQUEST_METHOD;
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: environ['tsgi.signal'] };
  if (method !== 'GET' && method !== 'HEAD' && bodyFraming(environ).kind !== 'none') {
    init.body = inputStream(environ['tsgi.input']);
    init.duplex = 'half'; // Node requires it for a stream body (WHATWG fetch "RequestInit duplex")
  }
  const url = requestUrl(environ, includeScriptName, host);
  try {
    // Host too, as every fetch server gives it (@hono/node-server copies rawHeaders, Deno and Bun
    // keep it): handlers read it (`c.req.header('host')`) for virtual hosts and origin checks.
    // A value Headers refuses also makes the URL unparseable: both are the 400 below.
    headers.append('host', toByteString(host));
    return new Request(url, init);
  } catch (error) {
    // new Request throws TypeError for an invalid URL (a bad Host header) or a forbidden method.
    return `cannot build a Request for ${method} ${url}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * `tsgi.input` as a ReadableStream with a high-water mark of 0, so `pull` (one `read()` of the input)
 * runs only when the handler asks for bytes (WHATWG Streams "ReadableStreamDefaultControllerShouldCallPull").
 * A failed read (the client went away) errors the stream with RequestAbortedError.
 */
function inputStream(input: InputStream): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunk = await input.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Response headers as a TSGI list: hop-by-hop fields dropped (but Upgrade in a 426, RFC 9110
 * §15.5.22), each Set-Cookie its own pair.
 */
function responseHeaders(headers: Headers, status: number): HeaderList {
  const pairs: Array<[string, string]> = [];
  // Iterating Headers joins repeated fields with ", " (WHATWG fetch "sort and combine"), which would
  // corrupt Set-Cookie (its dates contain commas): take it from getSetCookie() instead.
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') pairs.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) pairs.push(['set-cookie', cookie]);
  return endToEndHeaders(pairs, status);
}

function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  // A Response from another realm or a fetch polyfill: accept anything shaped like one.
  const candidate = value as Partial<Response> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.status === 'number' &&
    typeof candidate.headers?.getSetCookie === 'function' &&
    'body' in candidate
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}
