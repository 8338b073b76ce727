// Connects TSGI requests to a node:http Server through an in-memory socket, from the HTTP client's side.
//
// The Server is given this Duplex as if a client had connected: `server.emit('connection', socket)`
// is public API (Node docs, http.Server event 'connection': "This event can also be explicitly
// emitted by users to inject connections into the HTTP server. In that case, any Duplex stream can
// be passed"; nodejs/node#16267). The readable side carries the request rebuilt as HTTP/1.1 bytes:
// the head at once, the body pulled from `tsgi.input` as Node reads it.
//
// The response takes the short way back. The ServerResponse hands its status line and header block
// to `takeHead` (called from its `_storeHeader`, see node-http.ts) instead of writing them, and
// writes its body unframed (no chunked encoding), so what reaches the writable side is body bytes
// only; `endOfResponse` marks the end in the same stream, after the last of them. Bytes written
// before any head (interim 1xx responses, a listener writing raw HTTP to `req.socket`, the 400 of
// `refuse`) go through HttpResponseParser instead, as every response once did.
// Node's write callback is held until the TSGI server has taken the chunk, so `res.write()` returns
// false and 'drain' follows exactly as on a slow TCP connection.
//
// A connection serves one request at a time and, when that request ended cleanly, the next one
// (HTTP/1.1 keep-alive): `reusable` says when; node-http.ts keeps the pool.

import { Duplex } from 'node:stream';
import { RequestAbortedError, TsgiError } from '../core/errors.js';
import type { Environ } from '../core/types.js';
import { bodyFraming, requestHeaders, requestTarget, type BodyFraming } from './environ-request.js';
import { HttpResponseParser, type ParseEvent, type ResponseHead } from './http-response-parser.js';
import { MemorySocket } from './memory-socket.js';
import { contentLength, headOf, truncated, type StoredHead } from './stored-head.js';

/** What an exchange needs besides the environ. */
export interface ExchangeOptions {
  /** `req.url` starts with SCRIPT_NAME (true) or is relative to the mount point (false). */
  includeScriptName: boolean;
  /** The Host field value, already checked. */
  host: string;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
/** Written after the last body byte of a response that `takeHead` took; compared by identity. */
const END_OF_RESPONSE = Buffer.alloc(0);

/** Where the response stands. */
const enum Response {
  /** No head yet: bytes written now go to the fallback parser. */
  Waiting,
  /** `takeHead` has the head: bytes written now are body bytes. */
  Direct,
  /** The fallback parser found the head: every byte goes through it. */
  Parsed,
  /** Complete. */
  Ended,
  /** Failed or cut off: `#error` says why. */
  Failed,
}

/**
 * The in-memory connection of one request at a time. Its `net.Socket` fields (MemorySocket) come
 * from the first request; a reused connection keeps them (node-http.ts only reuses it for requests
 * from the same client connection of the front server).
 */
export class ExchangeSocket extends MemorySocket {
  /** The request this connection carries now. */
  environ: Environ;
  /** SCRIPT_NAME + PATH_INFO re-quoted + `?` + QUERY_STRING: what Express calls `originalUrl`. */
  originalUrl = '';
  /** Which request of this connection is current; a body handed out for an earlier one is inert. */
  generation = 0;
  #connected = false;
  #framing: BodyFraming = { kind: 'none' };
  #bodyDone = true;
  #headPushed = false;
  #reading = false;
  #state = Response.Waiting;
  #parser: HttpResponseParser | undefined;
  #head: ResponseHead | undefined;
  #headWaiter: { resolve: (head: ResponseHead) => void; reject: (error: unknown) => void } | undefined;
  /** Body bytes still to come under the head's Content-Length; -1 when it has none. */
  #remaining = -1;
  #queue: Uint8Array[] = [];
  #held: (() => void) | undefined;
  #waiter: (() => void) | undefined;
  #error: unknown = undefined;
  #responseBytes = false;
  #watching = false;
  /** Bytes of the write whose callback is held. */
  #heldBytes = 0;
  readonly #onAbort = (): void => void this.destroy();

  /**
   * @param environ - the first request; the connection's address fields come from it.
   * @param highWaterMark - response bytes Node may queue before `res.write()` returns false.
   */
  constructor(environ: Environ, highWaterMark: number) {
    // readableHighWaterMark 0: nothing is pulled from tsgi.input into this socket while Node has
    // paused it, so the read-ahead is only what Node's parser has pushed into `req` (its own mark).
    super(environ, { allowHalfOpen: true, readableHighWaterMark: 0, writableHighWaterMark: highWaterMark });
    this.environ = environ;
  }

  /**
   * Sends one request over this connection: hands the connection to `server` the first time (as its
   * TCP listener would), then writes the request head. A listener that answers synchronously has
   * answered when this returns; otherwise the connection now follows `tsgi.signal`, which is made
   * only then (an AbortSignal costs microseconds a finished response does not need).
   */
  send(server: { emit(event: 'connection', socket: Duplex): boolean }, environ: Environ, options: ExchangeOptions): void {
    this.#begin(environ);
    if (!this.#connected) {
      this.#connected = true;
      server.emit('connection', this);
      // A Readable delivers its first push a tick later unless a read has already happened
      // (`state.sync`); this empty read (no body is pulled before the head) lets Node parse the head,
      // and a synchronous listener answer, within this call, as on a reused connection.
      this.read(0);
    }
    this.#headPushed = true;
    this.push(this.#requestHead(options));
    if (this.#state === Response.Ended || this.#state === Response.Failed || this.destroyed) return;
    const signal = environ['tsgi.signal'];
    if (signal.aborted) {
      this.#fail(new RequestAbortedError());
      this.destroy();
      return;
    }
    this.#watching = true;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * The response head once the listener has written it: the head itself when it is already there,
   * else a promise of it; rejects (or throws) when the listener failed or closed without one.
   */
  head(): ResponseHead | Promise<ResponseHead> {
    if (this.#head !== undefined) return this.#head;
    if (this.#state === Response.Failed) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#headWaiter = { resolve, reject };
    });
  }

  /**
   * Called by the ServerResponse once it has built its head (`_storeHeader`): takes the status and
   * header fields from that head, so the response never writes it to the connection. Node's own
   * serialisation is read back, not rebuilt: it is the one complete record of every `writeHead`
   * overload.
   * @returns true when the head was taken; the response must then neither write it nor chunk the
   *   body. False when this connection is not waiting for a head (bytes already went the raw way).
   */
  takeHead(res: StoredHead, method: string): boolean {
    if (this.#state !== Response.Waiting || this.destroyed) return false;
    const text = res._header;
    if (typeof text !== 'string') return false;
    let head: ResponseHead;
    try {
      head = headOf(text);
    } catch (error) {
      this.#fail(error);
      return false;
    }
    this.#state = Response.Direct;
    // Body framing, as a client would apply it (RFC 9112 §6.3): none for HEAD, 204 and 304;
    // Content-Length bytes when the head says so (more are dropped, as the parser did).
    if (method === 'HEAD' || head.status === 204 || head.status === 304) {
      this.#headReady(head);
      this.#end();
      return true;
    }
    this.#remaining = contentLength(head);
    this.#headReady(head);
    if (this.#remaining === 0) this.#end();
    return true;
  }

  /**
   * Called when the ServerResponse has written its last byte to this connection ('prefinish'): the
   * end travels behind those bytes, which may still wait in the Writable's buffer.
   */
  endOfResponse(): void {
    if (this.#state !== Response.Direct) return;
    // Nothing behind the write being held: the end is known now (a synchronous listener's response
    // is then complete before `send` returns).
    if (this.writableLength <= this.#heldBytes) this.#receive(END_OF_RESPONSE);
    else if (this.writable) this.write(END_OF_RESPONSE);
  }

  /**
   * The listener failed (threw, or its promise rejected). Before the head: `head()` rejects (the
   * driver answers 500); after: the body throws (the driver cuts the response off). Either way the
   * connection closes, so the listener sees 'close'.
   * @param environ - the request the listener was called for (default: the current one); the
   *   failure of an earlier request on this connection is only logged, on that request.
   */
  fail(error: unknown, environ: Environ = this.environ): void {
    if (this.#state === Response.Ended || environ !== this.environ) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      environ['tsgi.errors'].write(`tsgi: node adapter: the listener failed after its response ended: ${detail}\n`);
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
    if (this.#responseBytes || this.#state !== Response.Waiting || !this.writable) {
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
      if (this.#state === Response.Ended) return DONE;
      if (this.#state === Response.Failed) throw this.#error;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  /**
   * The TSGI server is done with the body. A complete response lets Node finish ('finish', then
   * 'close' on the response) and returns; `reusable()` then says whether the connection can carry
   * another request. Before the response is complete the connection closes now and the listener
   * sees 'close' without 'finish', as when a client goes away.
   * @returns true when the response was complete.
   */
  close(): boolean {
    this.#unwatch();
    this.#release();
    if (this.#state === Response.Ended) return true;
    this.destroy();
    return false;
  }

  /**
   * True when, after `close()`, this connection may be kept for another request: the response ended
   * and the whole request body went to Node. `reusable()` checks the rest when the time comes.
   */
  poolable(): boolean {
    return this.#state === Response.Ended && this.#bodyDone && !this.#reading && this.writable && !this.destroyed;
  }

  /**
   * True when this connection can carry another request: the last one is over on both sides (the
   * whole request body went to Node, which read all of it; the response ended and Node finished it)
   * and Node kept the connection open (HTTP/1.1 keep-alive, no `Connection: close`).
   */
  reusable(): boolean {
    return (
      this.#state === Response.Ended &&
      this.#bodyDone &&
      !this.#reading &&
      this.#queue.length === 0 &&
      this.#held === undefined &&
      this.readableLength === 0 &&
      !this.isPaused() &&
      this.writableLength === 0 &&
      this.writable &&
      !this.destroyed &&
      (this as { _httpMessage?: unknown })._httpMessage == null
    );
  }

  // --- Readable side: the request, as Node's HTTP parser reads it. ---
  override _read(): void {
    if (this.#bodyDone || this.#reading || !this.#headPushed) return;
    this.#reading = true;
    const generation = this.generation;
    this.environ['tsgi.input'].read().then(
      (chunk) => {
        this.#reading = false;
        if (this.destroyed || generation !== this.generation) return;
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
        if (generation !== this.generation) return;
        this.#bodyDone = true;
        this.#fail(error); // the request body broke off: the client went away
        this.destroy();
      },
    );
  }

  // --- Writable side: what ServerResponse writes. ---
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#receive(chunk);
    this.#hold(callback, chunk.byteLength);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    let bytes = 0;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = (chunks[i] as { chunk: Buffer }).chunk;
      bytes += chunk.byteLength;
      this.#receive(chunk);
    }
    this.#hold(callback, bytes);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // socket.end() from node:http: a close-delimited body (HTTP/1.0, `Connection: close`) ends here.
    if (this.#state === Response.Waiting || this.#state === Response.Parsed) this.#parse(undefined);
    else if (this.#state === Response.Direct) this.#fail(truncated('closed'));
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#unwatch();
    if (this.#state !== Response.Ended && this.#state !== Response.Failed) {
      if (this.environ['tsgi.signal'].aborted) this.#fail(new RequestAbortedError());
      else if (this.#state === Response.Direct) this.#fail(truncated('closed'));
      else this.#parse(undefined); // NO_RESPONSE or TRUNCATED unless close-delimited
    }
    this.#release();
    this.#wake();
    callback(error);
  }

  #begin(environ: Environ): void {
    this.generation++;
    this.environ = environ;
    this.originalUrl = requestTarget(environ, true);
    this.#framing = bodyFraming(environ);
    this.#bodyDone = this.#framing.kind === 'none' || (this.#framing.kind === 'length' && this.#framing.length === 0);
    this.#headPushed = false;
    this.#reading = false;
    this.#state = Response.Waiting;
    this.#parser = undefined;
    this.#head = undefined;
    this.#headWaiter = undefined;
    this.#remaining = -1;
    this.#error = undefined;
    this.#responseBytes = false;
  }

  #receive(chunk: Buffer): void {
    if (chunk === END_OF_RESPONSE) {
      if (this.#state === Response.Direct) {
        if (this.#remaining > 0) this.#fail(truncated('length'));
        else this.#end();
      }
      return;
    }
    if (chunk.byteLength === 0) return;
    switch (this.#state) {
      case Response.Direct:
        if (this.#remaining >= 0) {
          if (chunk.byteLength >= this.#remaining) {
            if (this.#remaining > 0) this.#queue.push(chunk.subarray(0, this.#remaining));
            this.#remaining = 0;
            this.#end();
            return;
          }
          this.#remaining -= chunk.byteLength;
        }
        this.#queue.push(chunk);
        this.#wake();
        return;
      case Response.Waiting:
      case Response.Parsed:
        this.#responseBytes = true;
        this.#parse(chunk);
        return;
      default:
        return; // after the end: dropped, as bytes past a Content-Length always were
    }
  }

  /** Holds Node's callback while its bytes wait for the TSGI server: that is the backpressure. */
  #hold(callback: () => void, bytes: number): void {
    if (this.#queue.length === 0) return void callback();
    this.#held = callback;
    this.#heldBytes = bytes;
  }

  /** Runs the fallback parser over raw response bytes (`undefined`: end of stream) and routes its events. */
  #parse(chunk: Uint8Array | undefined): void {
    this.#parser ??= new HttpResponseParser(this.environ.REQUEST_METHOD);
    let events: ParseEvent[];
    try {
      events = chunk === undefined ? this.#parser.finish() : this.#parser.push(chunk);
    } catch (error) {
      this.#fail(error);
      return;
    }
    for (const event of events) {
      if (event.type === 'head') {
        this.#state = Response.Parsed;
        this.#headReady(event.head);
      } else if (event.type === 'data') this.#queue.push(event.data);
      else this.#end();
    }
    if (events.length > 0) this.#wake();
  }

  #headReady(head: ResponseHead): void {
    this.#head = head;
    const waiter = this.#headWaiter;
    this.#headWaiter = undefined;
    waiter?.resolve(head);
  }

  #end(): void {
    this.#state = Response.Ended;
    this.#wake();
  }

  #fail(error: unknown): void {
    if (this.#state === Response.Ended || this.#state === Response.Failed) return;
    this.#state = Response.Failed;
    this.#error = error ?? new TsgiError('TSGI_NODE_NO_RESPONSE', 'tsgi: node adapter: the connection closed');
    const waiter = this.#headWaiter;
    this.#headWaiter = undefined;
    waiter?.reject(this.#error);
    this.#wake();
  }

  #unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.environ['tsgi.signal'].removeEventListener('abort', this.#onAbort);
  }

  #release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#heldBytes = 0;
    held();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #requestHead(options: ExchangeOptions): Buffer {
    const environ = this.environ;
    const version = environ.SERVER_PROTOCOL === 'HTTP/1.0' ? '1.0' : '1.1';
    const target = options.includeScriptName || environ.SCRIPT_NAME === '' ? this.originalUrl : requestTarget(environ, false);
    let head = `${environ.REQUEST_METHOD} ${target} HTTP/${version}\r\nHost: ${options.host}\r\n`;
    const dropped = (name: string, reason: string): void =>
      environ['tsgi.errors'].write(`tsgi: node adapter: request header ${name} left out: ${reason}\n`);
    for (const [name, value] of requestHeaders(environ, dropped)) head += `${name}: ${value}\r\n`;
    if (this.#framing.kind === 'stream') head += 'Transfer-Encoding: chunked\r\n';
    // UTF-8 gives back the bytes the front server received (the environ decoded them as UTF-8);
    // Node's parser then reads them as Latin-1, exactly as it would from a TCP client.
    return Buffer.from(`${head}\r\n`, 'utf8');
  }
}
