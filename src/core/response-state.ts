// The driver's state record for one response, from the server side: what the app started, what went out, and the error policy.

import { toBytes } from './body.js';
import { describeError, requestLine } from './describe.js';
import type { DriverOptions, Outcome, ResponseSink } from './driver.js';
import { BodyTooLargeError, RequestAbortedError, TsgiError, isAbort } from './errors.js';
import { copyHeaders, validateHeaders } from './headers.js';
import { isBodyless, statusCode } from './status.js';
import type { Chunk, Environ, ExcInfo, HeaderList, Write } from './types.js';

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

/** The driver's state record (STYLE habit 11): what was started, what was sent. */
export class ResponseState {
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
