// Runs fetch-style handlers (Request → Response: Hono, itty-router, SvelteKit, Remix) as TSGI apps, from the app side.

import { TsgiError } from '../core/errors.js';
import { isBodyless } from '../core/status.js';
import type { App, Body, Chunk, Environ, HeaderList, InputStream } from '../core/types.js';
import { bodyFraming, requestHeaders, requestHost, requestUrl, toByteString } from './environ-request.js';
import { statusLine } from './reason-phrase.js';
import { endToEndHeaders } from './response-headers.js';

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
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

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
 * - its body is streamed chunk by chunk as the server pulls (one `read()` per chunk, so a slow client
 *   slows the handler's stream down), and the reader is cancelled when the server stops early or the
 *   client goes away. For HEAD, 204 and 304 the body is cancelled unread.
 * No global is replaced or patched: Node 20's own Request, Response and ReadableStream are used.
 * @param handler - `(request, environ) => Response`, e.g. Hono's `app.fetch`.
 * @param options - see {@link FetchOptions}.
 * @returns the TSGI app. It answers 400 itself when the environ cannot be expressed as a `Request`
 *   (an unparseable Host, a method fetch refuses such as CONNECT), logging why to `tsgi.errors`.
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
    startResponse(statusLine(response.status, response.statusText), responseHeaders(response.headers));
    const body = response.body;
    if (body === null) return [];
    if (isBodyless(response.status, environ.REQUEST_METHOD)) {
      await body.cancel().catch(() => {});
      return [];
    }
    return streamBody(body, environ['tsgi.signal']);
  };
}

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

/** Response headers as a TSGI list: hop-by-hop fields dropped, each Set-Cookie its own pair. */
function responseHeaders(headers: Headers): HeaderList {
  const pairs: Array<[string, string]> = [];
  // Iterating Headers joins repeated fields with ", " (WHATWG fetch "sort and combine"), which would
  // corrupt Set-Cookie (its dates contain commas): take it from getSetCookie() instead.
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') pairs.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) pairs.push(['set-cookie', cookie]);
  return endToEndHeaders(pairs);
}

/**
 * The Response body as a TSGI body: each `next()` is one `reader.read()`, so the server pulls at the
 * client's pace. `close()` (the driver calls it exactly once) cancels the reader unless the stream
 * ended; the client going away cancels it at once, which also ends a `read()` that is waiting.
 */
function streamBody(stream: ReadableStream<Uint8Array>, signal: AbortSignal): Body {
  const reader = stream.getReader();
  let finished = false;
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  const iterator: AsyncIterator<Chunk> = {
    async next() {
      const step = await reader.read();
      if (step.done) {
        finished = true;
        return DONE;
      }
      return { done: false, value: step.value };
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      signal.removeEventListener('abort', onAbort);
      if (!finished) await reader.cancel().catch(() => {});
      reader.releaseLock();
    },
  };
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
