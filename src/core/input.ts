// Implements tsgi.input, the request body stream, between a transport (producer) and the app (consumer).

import { BodyTooLargeError, RequestAbortedError } from './errors.js';
import { ByteSpool } from './spool.js';
import type { InputStream } from './types.js';

/** How the input asks its transport to stop and restart delivering bytes (backpressure). */
export interface InputSource {
  /** The buffer is above its high-water mark: stop delivering (e.g. `socket.pause()`). */
  pause(): void;
  /** The app has drained the buffer: deliver more. */
  resume(): void;
}

/** Options for {@link BodyInput}. */
export interface BodyInputOptions {
  /** CONTENT_LENGTH as a number; `undefined` when the front server sent none (read to the stream's end). */
  contentLength: number | undefined;
  /** The transport's pause/resume hooks; omit when the producer needs no backpressure. */
  source?: InputSource;
  /** Bytes buffered before the source is paused. Default 65536. */
  highWaterMark?: number;
  /**
   * Instead of pausing the source, keep this many bytes in memory and the rest in a temp file (for
   * transports that must keep reading: see ByteSpool). When set, `source.pause` is never called.
   */
  spool?: { memoryBytes: number; directory?: string };
  /** Refuse bodies longer than this many bytes: reads then fail with TSGI_BODY_TOO_LARGE. */
  maxBytes?: number;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The request body as a bounded, pull-driven stream (docs/spec.md "tsgi.input").
 * The transport calls `push`/`end`/`fail`; the app calls `read`/`readAll` or iterates.
 * Bytes beyond CONTENT_LENGTH are dropped; a stream that ends short of it makes the reader throw
 * RequestAbortedError (RFC 3875 §4.1.2: the length is what the server promised).
 */
export class BodyInput implements InputStream {
  readonly #contentLength: number | undefined;
  readonly #source: InputSource | undefined;
  readonly #highWaterMark: number;
  readonly #spooling: boolean;
  readonly #maxBytes: number;
  // Made on the first byte: most requests (GET) have no body at all.
  #buffer: ByteSpool | undefined;
  readonly #spoolOptions: { memoryBytes: number; directory?: string } | undefined;
  #received = 0;
  #ended = false;
  #error: unknown = undefined;
  #paused = false;
  #discarding = false;
  /** Reads waiting for bytes, oldest first (one, unless the app overlaps reads). */
  #readers: Reader[] | undefined;
  /** True while a chunk is being read back from the spool file for the first reader. */
  #filling = false;

  constructor(options: BodyInputOptions) {
    this.#contentLength = options.contentLength;
    this.#source = options.source;
    this.#highWaterMark = options.highWaterMark ?? 65536;
    this.#spooling = options.spool !== undefined;
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#spoolOptions = options.spool;
    if (this.#contentLength === 0) this.#ended = true;
  }

  /** Bytes accepted from the transport so far (at most CONTENT_LENGTH). */
  get bytesReceived(): number {
    return this.#received;
  }

  /** True once the body is complete (all of CONTENT_LENGTH, or the transport's end). */
  get complete(): boolean {
    return this.#ended && this.#error === undefined;
  }

  /** Transport side: a chunk of body bytes arrived. */
  push(chunk: Uint8Array): void {
    if (this.#ended || this.#error !== undefined || chunk.byteLength === 0) return;
    const limit = this.#contentLength;
    if (limit !== undefined && this.#received + chunk.byteLength >= limit) {
      chunk = chunk.subarray(0, limit - this.#received);
      this.#ended = true;
    }
    this.#received += chunk.byteLength;
    if (this.#received > this.#maxBytes) {
      this.fail(new BodyTooLargeError(this.#maxBytes));
      return;
    }
    if (!this.#discarding && chunk.byteLength > 0) {
      const buffer = (this.#buffer ??= new ByteSpool(this.#spoolOptions ?? { memoryBytes: Number.POSITIVE_INFINITY }));
      buffer.push(chunk);
      if (!this.#spooling && buffer.size >= this.#highWaterMark && !this.#paused && !this.#ended) {
        this.#paused = true;
        this.#source?.pause();
      }
    }
    this.#wake();
  }

  /** Transport side: the stream ended (FastCGI empty FCGI_STDIN, or stdin EOF). */
  end(): void {
    if (this.#ended || this.#error !== undefined) return;
    const limit = this.#contentLength;
    if (limit !== undefined && this.#received < limit) {
      this.fail(
        new RequestAbortedError(`tsgi: request body ended after ${this.#received} of ${limit} bytes`),
      );
      return;
    }
    this.#ended = true;
    this.#wake();
  }

  /** Transport side: the request was aborted; pending and later reads reject with `error`. */
  fail(error: unknown): void {
    // A body that already arrived whole stays readable: the abort is for the response side.
    if (this.#error !== undefined || this.#ended) return;
    this.#error = error;
    this.#wake();
  }

  /**
   * Server side, after the app returned: drop what is buffered and what still arrives, and let the
   * transport run at full speed so the stream can be consumed to its end (FastCGI keep-conn).
   */
  discard(): void {
    this.#discarding = true;
    this.#buffer?.close();
    this.#resumeSource();
  }

  /** Bytes of the body held in memory right now (the rest, if any, is in the spool file). */
  get memoryBytes(): number {
    return this.#buffer?.memoryBytes ?? 0;
  }

  /** True while the transport should deliver no more bytes. */
  get paused(): boolean {
    return this.#paused;
  }

  read(): Promise<Uint8Array | null> {
    return this.#read(false) as Promise<Uint8Array | null>;
  }

  /**
   * One read, settled at once when it can be (a chunk in memory, the end, an error): no promise
   * chain per chunk on the common path (docs/performance.md). Reads that must wait queue in order.
   * @param asResult - resolve with an IteratorResult (for `for await`) instead of the chunk.
   */
  #read(asResult: boolean): Promise<Uint8Array | null | IteratorResult<Uint8Array, undefined>> {
    if (this.#readers === undefined || this.#readers.length === 0) {
      const chunk = this.#buffer?.takeMemory();
      if (chunk !== undefined) {
        this.#afterTake();
        return Promise.resolve(asResult ? { done: false, value: chunk } : chunk);
      }
      if (this.#buffer === undefined || this.#buffer.size === 0) {
        if (this.#error !== undefined) return Promise.reject(this.#error);
        if (this.#ended) return Promise.resolve(asResult ? DONE : null);
      }
    }
    return new Promise((resolve, reject) => {
      (this.#readers ??= []).push({ resolve, reject, asResult });
      this.#serve();
    });
  }

  /** Hands what is available to waiting readers, in order; starts a file read when that is next. */
  #serve(): void {
    const readers = this.#readers;
    if (readers === undefined) return;
    while (readers.length > 0 && !this.#filling) {
      const buffer = this.#buffer;
      const chunk = buffer?.takeMemory();
      if (chunk !== undefined) {
        this.#afterTake();
        settle(readers.shift() as Reader, chunk);
        continue;
      }
      if (buffer !== undefined && buffer.size > 0) {
        this.#fill(buffer);
        return;
      }
      if (this.#error !== undefined) {
        (readers.shift() as Reader).reject(this.#error);
        continue;
      }
      if (this.#ended) {
        settle(readers.shift() as Reader, null);
        continue;
      }
      this.#resumeSource(); // the app waits for bytes: let them come
      return;
    }
  }

  /** Reads the next chunk back from the spool file for the first waiting reader. */
  #fill(buffer: ByteSpool): void {
    this.#filling = true;
    buffer.shift().then(
      (chunk) => {
        this.#filling = false;
        const reader = this.#readers?.shift();
        if (chunk === null) {
          if (reader !== undefined) this.#readers?.unshift(reader); // emptied meanwhile (discard)
        } else if (reader !== undefined) {
          this.#afterTake();
          settle(reader, chunk);
        }
        this.#serve();
      },
      (error: unknown) => {
        this.#filling = false;
        this.#readers?.shift()?.reject(error);
        this.#serve();
      },
    );
  }

  /** A chunk was taken: below the high-water mark the source may deliver again. */
  #afterTake(): void {
    if (this.#paused && (this.#buffer?.size ?? 0) < this.#highWaterMark) this.#resumeSource();
  }

  async readAll(maxBytes = Number.POSITIVE_INFINITY): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        throw new BodyTooLargeError(maxBytes);
      }
      chunks.push(chunk);
    }
    return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, total);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#read(true) as Promise<IteratorResult<Uint8Array, undefined>>,
      return: () => Promise.resolve(DONE),
    };
  }

  #resumeSource(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#source?.resume();
    }
  }

  #wake(): void {
    if (this.#readers !== undefined && this.#readers.length > 0) this.#serve();
  }
}

/** A read waiting for bytes. */
interface Reader {
  resolve(value: Uint8Array | null | IteratorResult<Uint8Array, undefined>): void;
  reject(error: unknown): void;
  /** Resolve with an IteratorResult rather than the chunk. */
  asResult: boolean;
}

function settle(reader: Reader, chunk: Uint8Array | null): void {
  if (!reader.asResult) reader.resolve(chunk);
  else reader.resolve(chunk === null ? DONE : { done: false, value: chunk });
}
