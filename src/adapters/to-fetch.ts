// Serves a TSGI app as a fetch-style handler (Request → Response), from the server side of TSGI.

import { runApp, type ResponseSink } from '../core/driver.js';
import { buildEnviron } from '../core/environ.js';
import { RequestAbortedError, TsgiError } from '../core/errors.js';
import { headerToMetaVariable } from '../core/headers.js';
import { BodyInput } from '../core/input.js';
import type { App, Environ, ErrorStream, HeaderList } from '../core/types.js';

/** Options for {@link toFetch}. */
export interface ToFetchOptions {
  /** The app's mount point (SCRIPT_NAME), `""` (default) or `"/path"`; the URL's path must start with it. */
  scriptName?: string;
  /** Server log: driver lines (app errors, aborts), newline included. Default: process.stderr. */
  log?: (line: string) => void;
  /** `tsgi.errors`. Default: the same sink as `log`. */
  errors?: ErrorStream;
  /** Extra meta-variables (e.g. `REMOTE_ADDR`, `REMOTE_USER`), applied last. */
  extra?: Record<string, string>;
  /**
   * Bytes of response body queued in the Response stream before the app is paused (its `write`
   * waits, its body is not pulled). Default 65536.
   */
  highWaterMark?: number;
}

/** A request this host refuses before calling the app, as a front server would. */
class BadRequest extends Error {}

/**
 * Turns a TSGI app into a fetch-style handler, for tests and for runtimes that speak fetch (an edge
 * runtime, `Deno.serve`, Bun, a Service Worker). Each call builds the environ with `buildEnviron`,
 * as a front server would (RFC 3875 §4.1; `HTTPS=on` for https URLs), and runs the real driver
 * (`runApp`), so error policy, lazy headers and closing behave as under CGI and FastCGI.
 * - The returned promise resolves when the app's headers go out (its first byte, or its end), with a
 *   Response whose body streams: each chunk is queued as the app produces it, up to `highWaterMark`
 *   bytes, after which the app waits for the reader. Chunks are copied, since TSGI lets an app reuse
 *   a buffer once the server pulls the next chunk while a fetch consumer may keep what it read.
 * - `tsgi.signal` aborts when the Request's signal aborts or the consumer cancels the body.
 * - The request body is read from `request.body` into `tsgi.input` with its usual 64 KiB window.
 * - A response cut off after its headers errors the body stream, so the consumer sees a failure.
 * @returns `(request) => Promise<Response>`. The promise rejects only when the request aborted before
 *   the headers were sent, or when the app's status cannot be a fetch Response (1xx: code
 *   `TSGI_FETCH_STATUS`). A path with an invalid percent-escape is answered 400 without the app.
 * @see docs/adapters.md
 * @example
 * const handle = toFetch(app);
 * const res = await handle(new Request('http://localhost/hello'));
 * console.log(res.status, await res.text());
 */
export function toFetch(app: App, options: ToFetchOptions = {}): (request: Request) => Promise<Response> {
  const log = options.log ?? ((line: string) => void process.stderr.write(line));
  const errors = options.errors ?? { write: log };
  return async (request) => {
    let params: Record<string, string>;
    try {
      params = requestParams(request, options);
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      log(`tsgi: toFetch: ${error.message}\n`);
      return new Response('Bad Request\n', { status: 400, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
    }
    const controller = new AbortController();
    const abort = (): void => {
      if (!controller.signal.aborted) controller.abort(new RequestAbortedError('tsgi: the fetch request was aborted'));
    };
    if (request.signal.aborted) abort();
    request.signal.addEventListener('abort', abort, { once: true });
    let body: RequestInput | undefined;
    let environ: Environ;
    try {
      environ = buildEnviron(params, {
        input: (contentLength) => (body = requestInput(request.body, contentLength)).input,
        errors,
        signal: controller.signal,
        multithread: true,
        multiprocess: false,
        runOnce: false,
        scriptName: options.scriptName,
      });
    } catch (error) {
      request.signal.removeEventListener('abort', abort);
      log(`${error instanceof Error ? error.message : String(error)}\n`);
      return new Response('Bad Request\n', { status: 400, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
    }
    return new Promise<Response>((resolve, reject) => {
      const sink = new FetchSink(environ.REQUEST_METHOD, options.highWaterMark ?? 65536, abort, resolve, reject);
      void runApp(app, environ, sink, { log }).finally(() => {
        request.signal.removeEventListener('abort', abort);
        body?.stop();
      });
    });
  };
}

/** The meta-variables a front server would send for this Request (RFC 3875 §4.1). */
function requestParams(request: Request, options: ToFetchOptions): Record<string, string> {
  const url = new URL(request.url);
  const https = url.protocol === 'https:';
  const path = decodePath(url.pathname);
  const scriptName = options.scriptName ?? '';
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: scriptName,
    PATH_INFO: scriptName !== '' && path.startsWith(scriptName) ? path.slice(scriptName.length) : path,
    QUERY_STRING: url.search.slice(1),
    REQUEST_URI: url.pathname + url.search,
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port !== '' ? url.port : https ? '443' : '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'tsgi-fetch',
    HTTP_HOST: url.host,
  };
  if (https) params.HTTPS = 'on';
  request.headers.forEach((value, name) => {
    if (name === 'content-type') params.CONTENT_TYPE = value;
    else if (name === 'content-length') params.CONTENT_LENGTH = value;
    else params[headerToMetaVariable(name)] = value;
  });
  // A body without a declared length goes over HTTP/1.1 chunked; say so, as a front server passing
  // the upload through unbuffered would (docs/spec.md "CONTENT_LENGTH": absent when not known).
  if (request.body !== null && params.CONTENT_LENGTH === undefined) params.HTTP_TRANSFER_ENCODING ??= 'chunked';
  return Object.assign(params, options.extra);
}

/** Percent-decodes a URL path as bytes, then reads them as UTF-8 (invalid sequences → U+FFFD). */
function decodePath(raw: string): string {
  if (!raw.includes('%')) return raw;
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw new BadRequest(`invalid percent-escape in path ${JSON.stringify(raw)}`);
  const bytes = Buffer.from(raw.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))), 'latin1');
  const path = bytes.toString('utf8');
  if (path.includes('\0')) throw new BadRequest('NUL byte in path');
  return path;
}

/** `tsgi.input` over a Request body, and how to stop reading it when the request is over. */
interface RequestInput {
  input: BodyInput;
  /** Stops the pump and cancels the body stream (the app is done; the rest is not wanted). */
  stop(): void;
}

/**
 * `tsgi.input` fed from the Request body: a pump reads the stream while the input is below its
 * window and stops when the input pauses it (docs/spec.md "tsgi.input").
 */
function requestInput(stream: ReadableStream<Uint8Array> | null, contentLength: number | undefined): RequestInput {
  if (stream === null) {
    const input = new BodyInput({ contentLength: contentLength ?? 0 });
    input.end(); // a length with no body is a short body: reading it fails, as it should
    return { input, stop: () => {} };
  }
  const reader = stream.getReader();
  let paused = false;
  let pumping = false;
  let stopped = false;
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (!paused && !stopped && !input.complete) {
        const step = await reader.read();
        if (step.done) {
          input.end();
          break;
        }
        input.push(step.value);
      }
    } catch (error) {
      input.fail(new RequestAbortedError('tsgi: reading the fetch request body failed', { cause: error }));
    } finally {
      pumping = false;
    }
  };
  const input = new BodyInput({
    contentLength,
    source: {
      pause: () => {
        paused = true;
      },
      resume: () => {
        paused = false;
        void pump();
      },
    },
  });
  void pump();
  return {
    input,
    stop: () => {
      stopped = true;
      void reader.cancel().catch(() => {});
    },
  };
}

/** Builds the Response from what the driver sends: the head resolves it, bytes feed its stream. */
class FetchSink implements ResponseSink {
  readonly #method: string;
  readonly #highWaterMark: number;
  readonly #abort: () => void;
  readonly #resolve: (response: Response) => void;
  readonly #reject: (error: unknown) => void;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #started = false;
  #cancelled = false;
  #drainWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(method: string, highWaterMark: number, abort: () => void, resolve: (r: Response) => void, reject: (e: unknown) => void) {
    this.#method = method;
    this.#highWaterMark = highWaterMark;
    this.#abort = abort;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(status: string, headers: HeaderList): void {
    this.#started = true;
    const code = Number(status.slice(0, 3));
    if (code < 200) {
      this.#reject(new TsgiError('TSGI_FETCH_STATUS', `tsgi: toFetch: status ${JSON.stringify(status)} cannot be a fetch Response (200-599)`));
      return;
    }
    const list = new Headers();
    for (const [name, value] of headers) list.append(name, value);
    // WHATWG fetch "null body status" (101, 103, 204, 205, 304) and HEAD responses carry no stream.
    const nullBody = this.#method === 'HEAD' || code === 204 || code === 205 || code === 304;
    const body = nullBody
      ? null
      : new ReadableStream<Uint8Array>(
          {
            start: (controller) => {
              this.#controller = controller;
            },
            pull: () => this.#wake(),
            cancel: () => {
              this.#cancelled = true;
              this.#abort(); // the consumer stopped reading: the client went away
              this.#wake(new RequestAbortedError('tsgi: the Response body was cancelled'));
            },
          },
          { highWaterMark: this.#highWaterMark, size: (chunk) => chunk.byteLength },
        );
    this.#resolve(new Response(body, { status: code, statusText: status.slice(4), headers: list }));
  }

  write(chunk: Uint8Array): boolean {
    const controller = this.#controller;
    if (controller === undefined || this.#cancelled) return true; // a null-body response: bytes are discarded
    controller.enqueue(chunk.slice()); // a copy: see toFetch's docstring
    return (controller.desiredSize ?? 0) > 0;
  }

  drain(): Promise<void> {
    if (this.#cancelled) return Promise.reject(new RequestAbortedError());
    const controller = this.#controller;
    if (controller === undefined || (controller.desiredSize ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  end(): void {
    if (!this.#cancelled) this.#controller?.close();
  }

  abort(error: unknown): void {
    if (!this.#started) {
      this.#reject(error);
      return;
    }
    if (!this.#cancelled) this.#controller?.error(error);
    this.#wake(error);
  }

  #wake(error?: unknown): void {
    for (const waiter of this.#drainWaiters.splice(0)) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }
}
