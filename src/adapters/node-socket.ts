// Connects one TSGI request to a node:http Server through an in-memory socket, from the HTTP client's side.
//
// The Server is given this Duplex as if a client had connected: `server.emit('connection', socket)`
// is public API (Node docs, http.Server event 'connection': "This event can also be explicitly
// emitted by users to inject connections into the HTTP server. In that case, any Duplex stream can
// be passed"; nodejs/node#16267). The readable side carries the request
// rebuilt as HTTP/1.1 bytes: the head at once, the body pulled from `tsgi.input` as Node reads it.
// The writable side receives what ServerResponse writes, parsed back into a head and body chunks.
// Node's write callback is held until the TSGI server has taken the chunk, so `res.write()` returns
// false and 'drain' follows exactly as on a slow TCP connection.

import { Duplex } from 'node:stream';
import { RequestAbortedError, TsgiError } from '../core/errors.js';
import type { Environ } from '../core/types.js';
import { bodyFraming, requestHeaders, requestTarget, type BodyFraming } from './environ-request.js';
import { HttpResponseParser, type ParseEvent, type ResponseHead } from './http-response-parser.js';

/** What the exchange needs besides the environ. */
export interface ExchangeOptions {
  /** `req.url` starts with SCRIPT_NAME (true) or is relative to the mount point (false). */
  includeScriptName: boolean;
  /** Response bytes Node may queue before `res.write()` returns false. */
  highWaterMark: number;
  /** The Host field value, already checked. */
  host: string;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The in-memory connection of one request. Frameworks read the `net.Socket` fields they use from
 * `req.socket`: `remoteAddress`/`remotePort`/`remoteFamily` (REMOTE_ADDR/REMOTE_PORT),
 * `localAddress`/`localPort` (SERVER_ADDR/SERVER_PORT), and `encrypted` (true for https, which is
 * how Express's `req.protocol` and Koa's `ctx.protocol` detect TLS).
 */
export class ExchangeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly encrypted: true | undefined;
  readonly connecting = false;
  readonly pending = false;
  /** The request this connection carries. */
  readonly environ: Environ;
  /** SCRIPT_NAME + PATH_INFO re-quoted + `?` + QUERY_STRING: what Express calls `originalUrl`. */
  readonly originalUrl: string;
  readonly #options: ExchangeOptions;
  readonly #framing: BodyFraming;
  readonly #parser: HttpResponseParser;
  readonly #head: Promise<ResponseHead>;
  #resolveHead!: (head: ResponseHead) => void;
  #rejectHead!: (error: unknown) => void;
  readonly #queue: Uint8Array[] = [];
  #held: (() => void) | undefined;
  #waiter: (() => void) | undefined;
  #ended = false;
  #error: unknown = undefined;
  #bodyDone: boolean;
  #reading = false;
  #responseBytes = false;
  readonly #onAbort = (): void => void this.destroy();

  constructor(environ: Environ, options: ExchangeOptions) {
    // readableHighWaterMark 0: nothing is pulled from tsgi.input into this socket while Node has
    // paused it, so the read-ahead is only what Node's parser has pushed into `req` (its own mark).
    super({ allowHalfOpen: true, readableHighWaterMark: 0, writableHighWaterMark: options.highWaterMark });
    this.environ = environ;
    this.#options = options;
    this.#framing = bodyFraming(environ);
    this.#bodyDone = this.#framing.kind === 'none' || (this.#framing.kind === 'length' && this.#framing.length === 0);
    this.#parser = new HttpResponseParser(environ.REQUEST_METHOD);
    this.#head = new Promise((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    this.#head.catch(() => {}); // observed through head(); never an unhandled rejection
    this.originalUrl = requestTarget(environ, true);
    const port = Number(environ.REMOTE_PORT);
    this.remoteAddress = stringOr(environ.REMOTE_ADDR);
    this.remotePort = Number.isInteger(port) && port > 0 ? port : undefined;
    this.remoteFamily = this.remoteAddress === undefined ? undefined : this.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.localAddress = stringOr(environ.SERVER_ADDR);
    this.localPort = Number(environ.SERVER_PORT);
    this.encrypted = environ['tsgi.url_scheme'] === 'https' ? true : undefined;
  }

  /** Hands the connection to `server` (as its TCP listener would) and sends the request head. */
  connect(server: { emit(event: 'connection', socket: Duplex): boolean }): void {
    const signal = this.environ['tsgi.signal'];
    if (signal.aborted) {
      this.#fail(new RequestAbortedError());
      return;
    }
    signal.addEventListener('abort', this.#onAbort, { once: true });
    server.emit('connection', this);
    this.push(this.#requestHead());
  }

  /** Resolves with the response head; rejects when the listener failed or closed without one. */
  head(): Promise<ResponseHead> {
    return this.#head;
  }

  /**
   * The listener failed (threw, or its promise rejected). Before the head: `head()` rejects (the
   * driver answers 500); after: the body throws (the driver cuts the response off). Either way the
   * connection closes, so the listener sees 'close'.
   */
  fail(error: unknown): void {
    if (this.#parser.complete) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.environ['tsgi.errors'].write(`tsgi: node adapter: the listener failed after its response ended: ${detail}\n`);
      return;
    }
    this.#fail(error);
    this.destroy();
  }

  /**
   * node:http's parser refused the request ('clientError': a method or header it does not accept).
   * Answers as Node's default handler would (400, or 431 for an oversized head) unless the response
   * had started, and says why on `tsgi.errors`.
   */
  refuse(error: Error & { code?: string }): void {
    this.environ['tsgi.errors'].write(`tsgi: node adapter: node:http refused the request: ${error.message}\n`);
    if (this.#responseBytes || !this.writable) {
      this.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    this.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\n\r\n`);
  }

  /**
   * The next body chunk, at the TSGI server's pace. A call means the server is done with the chunk it
   * had (docs/spec.md "The body"), so once the queue is empty Node's held write callback is released
   * and it may write, and reuse its buffers, again.
   */
  async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk !== undefined) return { done: false, value: chunk };
      this.#release();
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return DONE;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  /**
   * The TSGI server is done with the body. After a complete response the connection closes on the
   * next turn of the event loop, once 'finish' has run; before, it closes now and the listener sees
   * 'close' without 'finish', as when a client goes away.
   */
  close(): void {
    this.environ['tsgi.signal'].removeEventListener('abort', this.#onAbort);
    this.#release();
    if (this.#parser.complete) setImmediate(() => this.destroy());
    else this.destroy();
  }

  // --- net.Socket methods frameworks call; a memory pipe has no timers or TCP options. ---
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this.localAddress === undefined ? {} : { address: this.localAddress, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4', port: this.localPort ?? 0 };
  }

  // --- Readable side: the request, as Node's HTTP parser reads it. ---
  override _read(): void {
    if (this.#bodyDone || this.#reading) return;
    this.#reading = true;
    this.environ['tsgi.input'].read().then(
      (chunk) => {
        this.#reading = false;
        if (this.destroyed) return;
        const chunked = this.#framing.kind === 'stream';
        if (chunk === null) {
          this.#bodyDone = true;
          // Never push(null): node:http ends the response when the request side ends (httpAllowHalfOpen).
          if (chunked) this.push(LAST_CHUNK);
          return;
        }
        if (chunk.byteLength === 0) return void this._read();
        if (chunked) this.push(Buffer.from(`${chunk.byteLength.toString(16)}\r\n`, 'latin1'));
        this.push(chunk);
        if (chunked) this.push(CRLF);
      },
      (error: unknown) => {
        this.#reading = false;
        this.#bodyDone = true;
        this.#fail(error); // the request body broke off: the client went away
        this.destroy();
      },
    );
  }

  // --- Writable side: what ServerResponse writes. ---
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#receive([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#receive(chunks.map((entry) => entry.chunk), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // socket.end() from node:http: a close-delimited body (HTTP/1.0, `Connection: close`) ends here.
    this.#parse(() => this.#parser.finish());
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.environ['tsgi.signal'].removeEventListener('abort', this.#onAbort);
    if (!this.#parser.complete) {
      if (this.environ['tsgi.signal'].aborted) this.#fail(new RequestAbortedError());
      else this.#parse(() => this.#parser.finish()); // NO_RESPONSE or TRUNCATED unless close-delimited
    }
    this.#release();
    this.#wake();
    callback(error);
  }

  #receive(chunks: Buffer[], callback: () => void): void {
    this.#responseBytes = true;
    for (const chunk of chunks) if (!this.#parse(() => this.#parser.push(chunk))) break;
    // Hold Node's callback while its bytes wait for the TSGI server: that is the backpressure.
    if (this.#queue.length > 0) this.#held = callback;
    else callback();
  }

  /** Runs the parser and routes its events; false when the response turned out malformed. */
  #parse(step: () => ParseEvent[]): boolean {
    let events: ParseEvent[];
    try {
      events = step();
    } catch (error) {
      this.#fail(error);
      return false;
    }
    for (const event of events) {
      if (event.type === 'head') this.#resolveHead(event.head);
      else if (event.type === 'data') this.#queue.push(event.data);
      else this.#ended = true;
    }
    if (events.length > 0) this.#wake();
    return true;
  }

  #fail(error: unknown): void {
    if (this.#error !== undefined || this.#ended) return;
    this.#error = error ?? new TsgiError('TSGI_NODE_NO_RESPONSE', 'tsgi: node adapter: the connection closed');
    this.#rejectHead(this.#error);
    this.#wake();
  }

  #release(): void {
    const held = this.#held;
    this.#held = undefined;
    held?.();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #requestHead(): Buffer {
    const environ = this.environ;
    const version = environ.SERVER_PROTOCOL === 'HTTP/1.0' ? '1.0' : '1.1';
    const target = requestTarget(environ, this.#options.includeScriptName);
    let head = `${environ.REQUEST_METHOD} ${target} HTTP/${version}\r\nHost: ${this.#options.host}\r\n`;
    const dropped = (name: string, reason: string): void =>
      environ['tsgi.errors'].write(`tsgi: node adapter: request header ${name} left out: ${reason}\n`);
    for (const [name, value] of requestHeaders(environ, dropped)) head += `${name}: ${value}\r\n`;
    if (this.#framing.kind === 'stream') head += 'Transfer-Encoding: chunked\r\n';
    // UTF-8 gives back the bytes the front server received (the environ decoded them as UTF-8);
    // Node's parser then reads them as Latin-1, exactly as it would from a TCP client.
    return Buffer.from(`${head}\r\n`, 'utf8');
  }
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
