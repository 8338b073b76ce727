// Holds one FastCGI request's response state from the web-server side: CGI head, streamed body, stderr.
import { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { parseCgiHead } from '../core/cgi-response.js';
import { TsgiError } from '../core/errors.js';
import { ProtocolStatus } from './constants.js';

/** A response as the web server sees it: the CGI head parsed from FCGI_STDOUT, the rest streamed. */
export interface FastCgiResponse {
  /** From the `Status:` line; 200, or 302 with Location, when absent (RFC 3875 §6.3.3, §6.2.3). */
  status: number;
  statusText: string;
  /** Response headers in order, repeats kept (each Set-Cookie separately); no `Status`. */
  headers: Array<[string, string]>;
  /**
   * The rest of FCGI_STDOUT. Iterate it once. It ends at FCGI_END_REQUEST and throws `TsgiError`
   * code `FCGI_CONNECTION_CLOSED` if the connection closes first. While it is not read the socket
   * is paused (END_REQUEST waits too); `break` out of it to discard the rest.
   */
  body: AsyncIterable<Uint8Array>;
  /** FCGI_STDERR decoded as UTF-8 so far; complete once `body` has ended. */
  readonly stderr: string;
  /** END_REQUEST's appStatus (FastCGI spec §5.5); rejects like `body` if the connection closes first. */
  appStatus: Promise<number>;
  /** END_REQUEST's protocolStatus, see `ProtocolStatus`. */
  protocolStatus: Promise<number>;
}

/** Body bytes buffered before the socket is paused; it resumes below half of this. */
const BODY_HIGH_WATER_BYTES = 64 * 1024;

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A one-shot async iterable fed by the connection; asks for a pause while too much is queued. */
class ResponseBody implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ended = false;
  #cancelled = false;
  #error: unknown = null;
  #waiter: Deferred<IteratorResult<Uint8Array>> | null = null;
  #iterated = false;
  #paused = false;
  readonly #onPressure: (paused: boolean) => void;

  constructor(onPressure: (paused: boolean) => void) {
    this.#onPressure = onPressure;
  }

  push(chunk: Uint8Array): void {
    if (this.#cancelled || this.#ended) return;
    if (this.#waiter !== null) {
      const waiter = this.#waiter;
      this.#waiter = null;
      return waiter.resolve({ value: chunk, done: false });
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
    if (!this.#paused && this.#queuedBytes > BODY_HIGH_WATER_BYTES) this.#setPaused(true);
  }

  end(): void {
    this.#ended = true;
    this.#settleWaiter();
  }

  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error;
    this.#settleWaiter();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterated) throw new TsgiError('FCGI_BODY_ITERATED', 'fastcgi: a response body can be iterated only once');
    this.#iterated = true;
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queuedBytes -= chunk.length;
      if (this.#paused && this.#queuedBytes <= BODY_HIGH_WATER_BYTES / 2) this.#setPaused(false);
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#ended || this.#cancelled) return Promise.resolve({ value: undefined, done: true });
    this.#waiter = deferred();
    return this.#waiter.promise;
  }

  /** The consumer stopped early: drop what is queued and discard the rest as it arrives. */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.#cancelled = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.#paused) this.#setPaused(false);
    return Promise.resolve({ value: undefined, done: true });
  }

  #settleWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === null || this.#queue.length > 0) return;
    this.#waiter = null;
    if (this.#error !== null) waiter.reject(this.#error);
    else waiter.resolve({ value: undefined, done: true });
  }

  #setPaused(paused: boolean): void {
    this.#paused = paused;
    this.#onPressure(paused);
  }
}

/**
 * The client's state for the one request in flight: parses the CGI head off FCGI_STDOUT (RFC 3875
 * §6.3), streams the rest, decodes FCGI_STDERR and settles everything at FCGI_END_REQUEST or when
 * the connection closes.
 */
export class ClientExchange {
  /** Resolves with the response once its head has arrived. */
  readonly head = deferred<FastCgiResponse>();
  readonly appStatus = deferred<number>();
  readonly protocolStatus = deferred<number>();
  /** True once the STDIN stream, closing empty record included, has been written. */
  stdinDone = false;
  /** True after END_REQUEST or close: nothing more may be written for this request. */
  finished = false;
  readonly #body: ResponseBody;
  #headDone = false;
  #headFailed = false;
  #pendingHead: Uint8Array = new Uint8Array(0);
  readonly #stderr = new StringDecoder('utf8');
  #stderrText = '';

  /** @param onPressure - pause (true) or resume (false) reading the socket. */
  constructor(onPressure: (paused: boolean) => void) {
    this.#body = new ResponseBody(onPressure);
    // Callers that never look at these must not see unhandled rejections.
    this.appStatus.promise.catch(() => {});
    this.protocolStatus.promise.catch(() => {});
  }

  /** One FCGI_STDOUT record's content (FastCGI spec §5.3). The empty closing record is ignored. */
  onStdout(content: Uint8Array): void {
    if (content.length === 0 || this.#headFailed) return;
    if (this.#headDone) return this.#body.push(content);
    const bytes = this.#pendingHead.length === 0 ? content : Buffer.concat([this.#pendingHead, content]);
    let head;
    try {
      head = parseCgiHead(bytes);
    } catch (error) {
      this.#headFailed = true;
      this.head.reject(error);
      return;
    }
    if (head === null) {
      // Copy a view: it points into a socket chunk the parser does not own.
      this.#pendingHead = bytes === content ? content.slice() : bytes;
      return;
    }
    this.#headDone = true;
    this.#pendingHead = new Uint8Array(0);
    const stderr = (): string => this.#stderrText;
    this.head.resolve({
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body: this.#body,
      get stderr() {
        return stderr();
      },
      appStatus: this.appStatus.promise,
      protocolStatus: this.protocolStatus.promise,
    });
    if (bytes.length > head.headerBytes) this.#body.push(bytes.subarray(head.headerBytes));
  }

  /** One FCGI_STDERR record's content (FastCGI spec §5.3, §6.1). */
  onStderr(content: Uint8Array): void {
    this.#stderrText += this.#stderr.write(content);
  }

  /** FCGI_END_REQUEST arrived (FastCGI spec §5.5): settle everything. */
  end(appStatus: number, protocolStatus: number): void {
    this.finished = true;
    this.#stderrText += this.#stderr.end();
    if (!this.#headDone && !this.#headFailed) {
      this.head.reject(
        protocolStatus !== ProtocolStatus.FCGI_REQUEST_COMPLETE
          ? new TsgiError(
              'FCGI_REQUEST_REJECTED',
              `fastcgi: the application refused the request with protocolStatus ${protocolStatus} (FastCGI spec §5.5)`,
            )
          : new TsgiError(
              'CGI_BAD_RESPONSE',
              this.#pendingHead.length === 0
                ? 'cgi: the application ended the request without a response head'
                : 'cgi: the application ended the request before the blank line ending its response head',
            ),
      );
    }
    this.appStatus.resolve(appStatus);
    this.protocolStatus.resolve(protocolStatus);
    this.#body.end();
  }

  /** The connection closed before END_REQUEST. */
  fail(midRecord: boolean, cause: unknown): void {
    this.finished = true;
    const where = midRecord ? ' in the middle of a record' : '';
    const error = new TsgiError(
      'FCGI_CONNECTION_CLOSED',
      this.#headDone
        ? `fastcgi: connection closed${where} before FCGI_END_REQUEST`
        : `fastcgi: connection closed${where} before the response head`,
      cause === undefined ? undefined : { cause },
    );
    if (!this.#headDone && !this.#headFailed) this.head.reject(error);
    this.#body.fail(error);
    this.appStatus.reject(error);
    this.protocolStatus.reject(error);
  }
}
