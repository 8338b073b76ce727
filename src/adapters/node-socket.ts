// Connects TSGI requests to a node:http Server through an in-memory socket, from the HTTP client's side.
//
// The Server is given this Duplex as if a client had connected: `server.emit('connection', socket)`
// is public API (Node docs, http.Server event 'connection': "This event can also be explicitly
// emitted by users to inject connections into the HTTP server. In that case, any Duplex stream can
// be passed"; nodejs/node#16267). The readable side carries the request rebuilt as HTTP/1.1 bytes
// (request-head.ts): the head at once, the body pulled from `tsgi.input` as Node reads it. The
// writable side, where the response comes back, is ResponseSocket's (response-socket.ts).
//
// A connection serves one request at a time and, when that request ended cleanly, the next one
// (HTTP/1.1 keep-alive): `reusable` says when; node-http.ts keeps the pool.

import type { Duplex } from 'node:stream';
import { RequestAbortedError } from '../core/errors.js';
import type { Environ } from '../core/types.js';
import { bodyFraming, requestTarget, type BodyFraming } from './environ-request.js';
import { CRLF, LAST_CHUNK, chunkSizeLine, requestHead } from './request-head.js';
import { ResponseSocket } from './response-socket.js';

/** What an exchange needs besides the environ. */
export interface ExchangeOptions {
  /** `req.url` starts with SCRIPT_NAME (true) or is relative to the mount point (false). */
  includeScriptName: boolean;
  /** The Host field value, already checked. */
  host: string;
}

/**
 * The in-memory connection of one request at a time. Its `net.Socket` fields (MemorySocket) come
 * from the first request; a reused connection keeps them (node-http.ts only reuses it for requests
 * from the same client connection of the front server).
 */
export class ExchangeSocket extends ResponseSocket {
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
  #watching = false;
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
    const target = options.includeScriptName || environ.SCRIPT_NAME === '' ? this.originalUrl : requestTarget(environ, false);
    this.push(requestHead(environ, target, options.host, this.#framing));
    if (this.responseSettled || this.destroyed) return;
    const signal = environ['tsgi.signal'];
    if (signal.aborted) {
      this.failResponse(new RequestAbortedError());
      this.destroy();
      return;
    }
    this.#watching = true;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * The listener failed (threw, or its promise rejected). Before the head: `head()` rejects (the
   * driver answers 500); after: the body throws (the driver cuts the response off). Either way the
   * connection closes, so the listener sees 'close'.
   * @param environ - the request the listener was called for (default: the current one); the
   *   failure of an earlier request on this connection is only logged, on that request.
   */
  fail(error: unknown, environ: Environ = this.environ): void {
    if (this.responseEnded || environ !== this.environ) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      environ['tsgi.errors'].write(`tsgi: node adapter: the listener failed after its response ended: ${detail}\n`);
      return;
    }
    this.failResponse(error);
    this.destroy();
  }

  /**
   * node:http's parser refused the request ('clientError': a method or header it does not accept).
   * Answers as Node's default handler would (400, or 431 for an oversized head) unless the response
   * had started, and says why on `tsgi.errors`.
   */
  refuse(error: Error & { code?: string }): void {
    this.environ['tsgi.errors'].write(`tsgi: node adapter: node:http refused the request: ${error.message}\n`);
    if (this.responseStarted || !this.writable) {
      this.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    this.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\n\r\n`);
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
    this.releaseWrite();
    if (this.responseEnded) return true;
    this.destroy();
    return false;
  }

  /**
   * True when, after `close()`, this connection may be kept for another request: the response ended
   * and the whole request body went to Node. `reusable()` checks the rest when the time comes.
   */
  poolable(): boolean {
    return this.responseEnded && this.#bodyDone && !this.#reading && this.writable && !this.destroyed;
  }

  /**
   * True when this connection can carry another request: the last one is over on both sides (the
   * whole request body went to Node, which read all of it; the response ended and Node finished it)
   * and Node kept the connection open (HTTP/1.1 keep-alive, no `Connection: close`).
   */
  reusable(): boolean {
    return (
      this.responseEnded &&
      this.#bodyDone &&
      !this.#reading &&
      this.responseDrained &&
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
        if (chunked) this.push(chunkSizeLine(chunk.byteLength));
        this.push(chunk);
        if (chunked) this.push(CRLF);
      },
      (error: unknown) => {
        this.#reading = false;
        if (generation !== this.generation) return;
        this.#bodyDone = true;
        this.failResponse(error); // the request body broke off: the client went away
        this.destroy();
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#unwatch();
    if (!this.responseSettled && this.environ['tsgi.signal'].aborted) this.failResponse(new RequestAbortedError());
    super._destroy(error, callback);
  }

  #begin(environ: Environ): void {
    this.generation++;
    this.environ = environ;
    this.originalUrl = requestTarget(environ, true);
    this.#framing = bodyFraming(environ);
    this.#bodyDone = this.#framing.kind === 'none' || (this.#framing.kind === 'length' && this.#framing.length === 0);
    this.#headPushed = false;
    this.#reading = false;
    this.beginResponse(environ.REQUEST_METHOD);
  }

  #unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.environ['tsgi.signal'].removeEventListener('abort', this.#onAbort);
  }
}
