// Runs one TSGI request from the server side: startResponse/write/body → a transport's ResponseSink.

import { checkBody, closeBody, mustClose, toBytes } from './body.js';
import { describeError, requestLine } from './describe.js';
import { BodyTooLargeError, RequestAbortedError, TsgiError, isAbort } from './errors.js';
import { copyHeaders, validateHeaders } from './headers.js';
import { isBodyless, statusCode } from './status.js';
import { isThenable } from './thenable.js';
import type { App, Body, Chunk, Environ, ExcInfo, HeaderList, StartResponse, Write } from './types.js';

/**
 * Where a transport receives a response. The driver calls `start` once, then `write` for body bytes,
 * then exactly one of `end` or `abort`.
 */
export interface ResponseSink {
  /** Status line (validated `"NNN Reason"`) and headers (validated), before any body byte. */
  start(status: string, headers: HeaderList): void;
  /** Body bytes. Returns false when the caller should await `drain()` before writing more. */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the transport can take more; rejects with RequestAbortedError if the client left. */
  drain(): Promise<void>;
  /** The response is complete. */
  end(): void;
  /**
   * The response cannot be completed. If `start` was called, the transport must make the client see
   * an incomplete response (e.g. close the FastCGI connection without FCGI_END_REQUEST).
   */
  abort(error: unknown): void;
}

/** How a request ended, for the transport's exit code / FastCGI appStatus. */
export type Outcome = 'complete' | 'failed' | 'aborted';

/** Options for {@link runApp}. */
export interface DriverOptions {
  /**
   * Writes one log line (newline included) to the server's log: `error` for app failures, `info`
   * for a client that went away (routine, not an app bug).
   */
  log: (line: string, level: 'error' | 'info') => void;
  /**
   * Whether the client went away; default: `environ['tsgi.signal'].aborted`. Transports that make
   * the signal lazily pass their own flag, so the driver does not create it.
   */
  isAborted?: () => boolean;
}

const ERROR_BODY = Buffer.from('Internal Server Error\n');
const ERROR_HEADERS: HeaderList = [
  ['Content-Type', 'text/plain; charset=utf-8'],
  ['Content-Length', String(ERROR_BODY.byteLength)],
];
const TOO_LARGE_BODY = Buffer.from('Content Too Large\n');
const TOO_LARGE_HEADERS: HeaderList = [
  ['Content-Type', 'text/plain; charset=utf-8'],
  ['Content-Length', String(TOO_LARGE_BODY.byteLength)],
];
const RESOLVED = Promise.resolve();

/** The iterator every plain array has: an array whose own differs goes through the general path. */
const ARRAY_ITERATOR = Array.prototype[Symbol.iterator];

/**
 * Calls `app` for one request and drives its response into `sink` (docs/spec.md; PEP 3333 "server
 * side"). Never throws: app errors follow the error policy — before headers are sent, a generic 500
 * and a log line; after, the response is cut off with `sink.abort`. The body is closed exactly once.
 * @returns the outcome: `complete`, `failed` (the app erred) or `aborted` (the client went away).
 */
export async function runApp(app: App, environ: Environ, sink: ResponseSink, options: DriverOptions): Promise<Outcome> {
  return runAppNow(app, environ, sink, options);
}

/**
 * {@link runApp}, but a sync app that returns a plain array (PEP 3333's list of byte strings: the
 * array iterator, no async iterator, not a thenable, nothing to close) and never has to wait for
 * the sink is run to the end before this returns, and the outcome comes as a value, not a promise:
 * no promise, no trip through the microtask queue (~1 KB and ~0.5 µs less per request in
 * `bench/connection.mjs`). The FastCGI request uses it; `await` takes either.
 */
export function runAppNow(app: App, environ: Environ, sink: ResponseSink, options: DriverOptions): Outcome | Promise<Outcome> {
  const isAborted = options.isAborted ?? (() => environ['tsgi.signal'].aborted);
  const response = new ResponseState(environ, sink, isAborted);
  const startResponse: StartResponse = (status, headers, excInfo) => response.startResponse(status, headers, excInfo);
  let returned: unknown;
  try {
    returned = app(environ, startResponse);
  } catch (error) {
    return response.fail(error, options);
  }
  if (isPlainArray(returned)) return sendArray(returned, 0, response, sink, options, isAborted);
  return runBody(returned, environ, sink, options, response, isAborted);
}

/**
 * An array whose iteration gives its elements in order: the array iterator, and no async iterator
 * (which the spec says wins). Only then is its length known before the first byte.
 */
function iteratesElements(value: unknown): value is Chunk[] {
  return Array.isArray(value) && value[Symbol.iterator] === ARRAY_ITERATOR && !(Symbol.asyncIterator in value);
}

/**
 * An array the fast path may send as the general path would: it iterates its elements, is not a
 * thenable (which is awaited) and has nothing to close. Looking must not throw: a Proxy's traps may.
 */
function isPlainArray(value: unknown): value is Chunk[] {
  try {
    return iteratesElements(value) && !isThenable(value) && !mustClose(value as Body, undefined, true);
  } catch {
    return false; // the general path reports it
  }
}

/**
 * Sends `chunks` from index `from` as runBody would iterate them (an array has nothing to close), in
 * the same turn while the sink takes them; from the first chunk it refuses, after its drain.
 */
function sendArray(
  chunks: Chunk[],
  from: number,
  response: ResponseState,
  sink: ResponseSink,
  options: DriverOptions,
  isAborted: () => boolean,
): Outcome | Promise<Outcome> {
  try {
    if (from === 0) response.declareLength(chunks);
    for (let i = from; i < chunks.length; i++) {
      if (isAborted()) throw new RequestAbortedError();
      if (!response.send(chunks[i] as Chunk)) {
        return sink.drain().then(
          () => sendArray(chunks, i + 1, response, sink, options, isAborted),
          (error: unknown) => response.fail(error, options),
        );
      }
    }
    response.finish();
    sink.end();
    return 'complete';
  } catch (error) {
    return response.fail(error, options);
  }
}

/** The general path: a thenable, an iterable or async iterable, a body with `close`. */
async function runBody(
  returned: unknown,
  environ: Environ,
  sink: ResponseSink,
  options: DriverOptions,
  response: ResponseState,
  isAborted: () => boolean,
): Promise<Outcome> {
  let body: Body | undefined;
  let iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  let finished = false;
  try {
    // A sync app's body needs no trip through the microtask queue.
    body = (isThenable(returned) ? await returned : returned) as Body;
    checkBody(body);
    if (iteratesElements(body)) response.declareLength(body);
    iterator =
      Symbol.asyncIterator in body
        ? (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]()
        : (body as Iterable<Chunk>)[Symbol.iterator]();
    for (;;) {
      const step = iterator.next();
      const result = step instanceof Promise ? await step : step;
      if (result.done === true) break;
      if (isAborted()) throw new RequestAbortedError();
      if (!response.send(result.value)) await sink.drain();
    }
    finished = true;
    response.finish();
    sink.end();
    return 'complete';
  } catch (error) {
    return response.fail(error, options);
  } finally {
    if (mustClose(body, iterator, finished)) await closeBody(body, iterator, finished, options.log, environ);
  }
}

/** The driver's state record (STYLE habit 11): what was started, what was sent. */
class ResponseState {
  readonly #environ: Environ;
  readonly #sink: ResponseSink;
  readonly #isAborted: () => boolean;
  #status: string | undefined;
  #headers: HeaderList = [];
  #headersSent = false;
  #ended = false;
  #aborted = false;
  #bodyless = false;
  #declaredLength: number | undefined;
  #bytesSent = 0;
  readonly write: Write;

  constructor(environ: Environ, sink: ResponseSink, isAborted: () => boolean) {
    this.#environ = environ;
    this.#sink = sink;
    this.#isAborted = isAborted;
    this.write = (chunk) => this.#write(chunk);
  }

  startResponse(status: string, headers: HeaderList, excInfo?: ExcInfo): Write {
    if (excInfo !== undefined && excInfo !== null) {
      // PEP 3333: with exc_info, replacing headers is allowed until they are sent; after, re-raise.
      if (this.#headersSent) throw excInfo;
    } else if (this.#status !== undefined) {
      throw new TsgiError(
        'TSGI_ALREADY_STARTED',
        'tsgi: startResponse called twice; pass excInfo (the caught error) to replace the headers',
      );
    }
    const code = statusCode(status);
    // Checked and kept as one copy: the app's own arrays may change before the head goes out.
    const own = copyHeaders(headers);
    const length = validateHeaders(own, code); // a decimal count when present
    this.#status = status;
    this.#headers = own;
    this.#bodyless = isBodyless(code, this.#environ.REQUEST_METHOD);
    this.#declaredLength = length === undefined ? undefined : Number(length);
    return this.write;
  }

  /** For array bodies: their length is known before the first byte, so say it (like wsgiref). */
  declareLength(chunks: Chunk[]): void {
    if (this.#status === undefined || this.#headersSent || this.#declaredLength !== undefined) return;
    // Bodyless responses: for HEAD the app may return [] and the length would be a lie.
    if (this.#bodyless) return;
    let total = this.#bytesSent;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i];
      if (typeof chunk === 'string') {
        total += Buffer.byteLength(chunk);
      } else if (chunk instanceof Uint8Array) {
        total += chunk.byteLength;
      } else {
        return; // a bad chunk is reported when it is reached
      }
    }
    this.#headers.push(['Content-Length', String(total)]);
    this.#declaredLength = total;
  }

  /** Sends one chunk; returns the sink's backpressure answer (true also when nothing was written). */
  send(chunk: Chunk): boolean {
    const bytes = toBytes(chunk);
    if (bytes.byteLength === 0) return true;
    if (this.#status === undefined) {
      throw new TsgiError(
        'TSGI_NO_START_RESPONSE',
        'tsgi: the body yielded data before startResponse was called; call startResponse first',
      );
    }
    if (this.#aborted) throw new RequestAbortedError();
    this.#sendHeaders();
    this.#bytesSent += bytes.byteLength;
    if (this.#declaredLength !== undefined && this.#bytesSent > this.#declaredLength && !this.#bodyless) {
      throw new TsgiError(
        'TSGI_CONTENT_LENGTH_MISMATCH',
        `tsgi: body is longer than its Content-Length ${this.#declaredLength}`,
      );
    }
    return this.#bodyless ? true : this.#sink.write(bytes);
  }

  /** The body ended normally: check it against Content-Length and send headers if none went out. */
  finish(): void {
    if (this.#isAborted()) throw new RequestAbortedError();
    if (this.#status === undefined) {
      throw new TsgiError('TSGI_NO_START_RESPONSE', 'tsgi: the app returned without calling startResponse');
    }
    if (
      this.#declaredLength !== undefined &&
      this.#bytesSent !== this.#declaredLength &&
      !this.#bodyless
    ) {
      throw new TsgiError(
        'TSGI_CONTENT_LENGTH_MISMATCH',
        `tsgi: body has ${this.#bytesSent} bytes but Content-Length says ${this.#declaredLength}`,
      );
    }
    this.#sendHeaders();
    this.#ended = true;
  }

  /**
   * The error policy (STYLE habit 10). Never throws, whatever the app threw or did to environ: an
   * exception here would escape runApp and end the daemon with every request it serves.
   */
  fail(error: unknown, options: DriverOptions): Outcome {
    const environ = this.#environ;
    const where = requestLine(environ);
    this.#aborted = true;
    if (isAbortSafe(error) || this.#isAborted()) {
      options.log(`tsgi: client went away during ${where}\n`, 'info');
      this.#sink.abort(error);
      return 'aborted';
    }
    if (error instanceof BodyTooLargeError && !this.#headersSent) {
      // The client's body was too large (RFC 9110 §15.5.14), not the app's fault: no stack, no FCGI_STDERR.
      options.log(`tsgi: 413 for ${where}: ${error.message}\n`, 'info');
      this.#answerError('413 Content Too Large', TOO_LARGE_HEADERS, TOO_LARGE_BODY);
      return 'failed';
    }
    const detail = describeError(error);
    if (this.#headersSent) {
      options.log(`tsgi: error in app after the response started, cutting it off: ${where}: ${detail}\n`, 'error');
      this.#sink.abort(error);
    } else {
      options.log(`tsgi: error in app, answering 500: ${where}: ${detail}\n`, 'error');
      this.#answerError('500 Internal Server Error', ERROR_HEADERS, ERROR_BODY);
    }
    return 'failed';
  }

  /** The server's own whole response in place of the app's (no body for HEAD). */
  #answerError(status: string, headers: HeaderList, body: Uint8Array): void {
    this.#headersSent = true;
    this.#sink.start(status, headers);
    if (this.#environ.REQUEST_METHOD !== 'HEAD') this.#sink.write(body);
    this.#sink.end();
  }

  // `write` only exists once startResponse succeeded, so PEP 3333's "write before start_response"
  // cannot happen here: the type enforces it.
  #write(chunk: Chunk): Promise<void> {
    if (this.#ended) {
      return handled(Promise.reject(new TsgiError('TSGI_WRITE_AFTER_END', 'tsgi: write called after the response ended')));
    }
    if (this.#aborted || this.#isAborted()) return handled(Promise.reject(new RequestAbortedError()));
    try {
      if (this.send(chunk)) return RESOLVED;
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return handled(this.#sink.drain());
  }

  #sendHeaders(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#sink.start(this.#status as string, this.#headers);
  }
}

/** `isAbort`, for any value thrown: a Proxy's traps may throw on the checks it makes. */
function isAbortSafe(error: unknown): boolean {
  try {
    return isAbort(error);
  } catch {
    return false;
  }
}

function handled(promise: Promise<void>): Promise<void> {
  // An app may call write() without awaiting it; a rejection it never sees must not crash the process.
  promise.catch(() => {});
  return promise;
}
