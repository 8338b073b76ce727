// Runs one TSGI request from the server side: startResponse/write/body → a transport's ResponseSink.

import { checkBody, closeBody, mustClose } from './body.js';
import { RequestAbortedError } from './errors.js';
import { ResponseState } from './response-state.js';
import { isThenable } from './thenable.js';
import type { App, Body, Chunk, Environ, HeaderList, StartResponse } from './types.js';

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
