// Shapes one request's FCGI_STDOUT from the application side: head and first chunk together, held until the body is in.

import { encodeCgiHead } from '../core/cgi-response.js';
import type { ResponseSink } from '../core/driver.js';
import type { HeaderList } from '../core/types.js';

const EMPTY = new Uint8Array(0);
/** First body chunks up to this size share the head's FCGI_STDOUT record (a copy); larger ones do not. */
const HEAD_MERGE_BYTES = 16 * 1024;
/** Held bytes past which the app is told to wait (backpressure), in bytes. */
const HOLD_LIMIT_BYTES = 64 * 1024;

/**
 * The response side of one request: the driver's sink (`ResponseSink`), in front of the record
 * writer. One object per request rather than a sink of closures around it:
 * - the CGI head goes out in the same FCGI_STDOUT record as the first body bytes: one record less,
 *   and Apache mod_authnz_fcgi keeps only the body bytes that share a record with the end of the
 *   head (an authorizer's 403 text was lost otherwise);
 * - bytes are held while the request body is still arriving. nginx stops sending a request body for
 *   good once it has passed the response header on and its socket to us blocks
 *   (ngx_http_upstream_send_request_handler); an app answering while it reads (an echo) would then
 *   wait for bytes that never come. Holding is backpressure, not buffering: past 64 KiB the app is
 *   told to wait, and the body itself never stalls (tsgi.input spools to a temp file).
 */
export class StdoutStream implements ResponseSink {
  readonly #send: (bytes: Uint8Array) => boolean;
  readonly #drainSocket: () => Promise<void>;
  #head: Uint8Array | undefined;
  #held: Uint8Array[] | undefined;
  #heldBytes = 0;
  #waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  /** Set by `fail()`: the request was aborted. */
  #error: unknown;
  #ended = false;

  /**
   * @param send - writes bytes as FCGI_STDOUT records; returns the socket's backpressure signal.
   * @param drainSocket - resolves when the socket can take more.
   * @param hold - whether to hold bytes until `release()` (false when no body is coming).
   */
  constructor(send: (bytes: Uint8Array) => boolean, drainSocket: () => Promise<void>, hold: boolean) {
    this.#send = send;
    this.#drainSocket = drainSocket;
    this.#held = hold ? [] : undefined;
  }

  /** True once the driver ended the response normally (`end()`). */
  get ended(): boolean {
    return this.#ended;
  }

  /** ResponseSink: the CGI head (RFC 3875 §6.2) waits for the first body bytes or the end. */
  start(status: string, headers: HeaderList): void {
    this.head(encodeCgiHead(status, headers));
  }

  /** ResponseSink: the app is done; nothing it sends can wait on the request body any more. */
  end(): void {
    this.#ended = true;
    this.flushHead();
    this.release();
  }

  /** ResponseSink: the response is cut off; what was sent, and a head still waiting, goes out. */
  abort(): void {
    this.flushHead();
  }

  /** An encoded CGI head; it waits for the first body bytes or `flushHead()`. */
  head(bytes: Uint8Array): void {
    this.#head = bytes;
  }

  /** Body bytes. @returns false when the caller should `drain()` first. */
  write(chunk: Uint8Array): boolean {
    return this.#hold(this.#withHead(chunk));
  }

  /** Sends a head still waiting for body bytes (the body is empty, or the response is cut off). */
  flushHead(): void {
    this.#hold(this.#withHead(undefined));
  }

  /**
   * Resolves when more may be written: after `release()` and the socket's drain. Rejects with the
   * abort error once the request was aborted (`fail()`).
   */
  drain(): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#held === undefined) return this.#drainSocket();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The body is in (or the app is done): send what was held and let writers continue. */
  release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#heldBytes = 0;
    for (const bytes of held) this.#send(bytes);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) this.#drainSocket().then(waiter.resolve, waiter.reject);
  }

  /** The request was aborted: writers waiting in `drain()`, and later ones, get `error`. */
  fail(error: unknown): void {
    this.#error ??= error;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  #withHead(chunk: Uint8Array | undefined): Uint8Array {
    const head = this.#head;
    if (head === undefined) return chunk ?? EMPTY;
    this.#head = undefined;
    if (chunk === undefined || chunk.byteLength === 0) return head;
    if (chunk.byteLength > HEAD_MERGE_BYTES) {
      this.#hold(head);
      return chunk;
    }
    const merged = Buffer.allocUnsafe(head.byteLength + chunk.byteLength);
    merged.set(head, 0);
    merged.set(chunk, head.byteLength);
    return merged;
  }

  #hold(bytes: Uint8Array): boolean {
    if (bytes.byteLength === 0) return true;
    if (this.#held === undefined) return this.#send(bytes);
    this.#held.push(bytes);
    this.#heldBytes += bytes.byteLength;
    return this.#heldBytes < HOLD_LIMIT_BYTES;
  }
}
