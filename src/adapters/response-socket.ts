// Receives the response a node:http ServerResponse writes to the in-memory connection, from the HTTP client's side.
//
// The response takes the short way back. The ServerResponse hands its status line and header block
// to `takeHead` (called from its `_storeHeader`, see node-http.ts) instead of writing them, and
// writes its body unframed (no chunked encoding), so what reaches this writable side is body bytes
// only; `endOfResponse` marks the end in the same stream, after the last of them. Bytes written
// before any head (interim 1xx responses, a listener writing raw HTTP to `req.socket`, the 400 of
// ExchangeSocket's `refuse`) go through HttpResponseParser instead, as every response once did.
// Node's write callback is held until the TSGI server has taken the chunk, so `res.write()` returns
// false and 'drain' follows exactly as on a slow TCP connection.
//
// The request side, and when the connection is reused, are node-socket.ts's (ExchangeSocket).

import { TsgiError } from '../core/errors.js';
import { HttpResponseParser, type ParseEvent, type ResponseHead } from './http-response-parser.js';
import { MemorySocket } from './memory-socket.js';
import { contentLength, headOf, truncated, type StoredHead } from './stored-head.js';

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
 * The writable side of the in-memory connection: one response at a time, handed to the TSGI server
 * as a head (`head()`) and body chunks (`next()`) at the server's pace. ExchangeSocket extends it
 * with the request side; `beginResponse` starts each request's response afresh.
 */
export class ResponseSocket extends MemorySocket {
  #state = Response.Waiting;
  /** The request method: a response to HEAD has no body (RFC 9110 §9.3.2). */
  #method = 'GET';
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
  /** Bytes of the write whose callback is held. */
  #heldBytes = 0;

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
  takeHead(res: StoredHead): boolean {
    if (this.#state !== Response.Waiting || this.destroyed) return false;
    const text = res._header;
    if (typeof text !== 'string') return false;
    let head: ResponseHead;
    try {
      head = headOf(text);
    } catch (error) {
      this.failResponse(error);
      return false;
    }
    this.#state = Response.Direct;
    // Body framing, as a client would apply it (RFC 9112 §6.3): none for HEAD, 204 and 304;
    // Content-Length bytes when the head says so (more are dropped, as the parser did).
    if (this.#method === 'HEAD' || head.status === 204 || head.status === 304) {
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
   * The next body chunk, at the TSGI server's pace. A call means the server is done with the chunk it
   * had (docs/spec.md "The body"), so once the queue is empty Node's held write callback is released
   * and it may write, and reuse its buffers, again.
   */
  async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk !== undefined) return { done: false, value: chunk };
      this.releaseWrite();
      if (this.#state === Response.Ended) return DONE;
      if (this.#state === Response.Failed) throw this.#error;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  /** True once the response is complete. */
  protected get responseEnded(): boolean {
    return this.#state === Response.Ended;
  }

  /** True once the response is complete or has failed: nothing more will come of it. */
  protected get responseSettled(): boolean {
    return this.#state === Response.Ended || this.#state === Response.Failed;
  }

  /** True once any of the response has arrived: its head, or raw bytes of one. */
  protected get responseStarted(): boolean {
    return this.#responseBytes || this.#state !== Response.Waiting;
  }

  /** True when the TSGI server has taken every chunk and no write of Node's is held. */
  protected get responseDrained(): boolean {
    return this.#queue.length === 0 && this.#held === undefined;
  }

  /** Starts over for the next request's response. @param method - that request's method. */
  protected beginResponse(method: string): void {
    this.#state = Response.Waiting;
    this.#method = method;
    this.#parser = undefined;
    this.#head = undefined;
    this.#headWaiter = undefined;
    this.#remaining = -1;
    this.#error = undefined;
    this.#responseBytes = false;
  }

  /**
   * The response failed (`error`, or `TSGI_NODE_NO_RESPONSE` when undefined): `head()` rejects
   * before the head, `next()` throws after it. A settled response stays as it is.
   */
  protected failResponse(error: unknown): void {
    if (this.#state === Response.Ended || this.#state === Response.Failed) return;
    this.#state = Response.Failed;
    this.#error = error ?? new TsgiError('TSGI_NODE_NO_RESPONSE', 'tsgi: node adapter: the connection closed');
    const waiter = this.#headWaiter;
    this.#headWaiter = undefined;
    waiter?.reject(this.#error);
    this.#wake();
  }

  /** Lets Node's held write complete: the TSGI server took its bytes, or will take no more. */
  protected releaseWrite(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#heldBytes = 0;
    held();
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
    else if (this.#state === Response.Direct) this.failResponse(truncated('closed'));
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#state !== Response.Ended && this.#state !== Response.Failed) {
      if (this.#state === Response.Direct) this.failResponse(truncated('closed'));
      else this.#parse(undefined); // NO_RESPONSE or TRUNCATED unless close-delimited
    }
    this.releaseWrite();
    this.#wake();
    callback(error);
  }

  #receive(chunk: Buffer): void {
    if (chunk === END_OF_RESPONSE) {
      if (this.#state === Response.Direct) {
        if (this.#remaining > 0) this.failResponse(truncated('length'));
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
    this.#parser ??= new HttpResponseParser(this.#method);
    let events: ParseEvent[];
    try {
      events = chunk === undefined ? this.#parser.finish() : this.#parser.push(chunk);
    } catch (error) {
      this.failResponse(error);
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

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
