// Reads a fetch Response's body stream as a TSGI body, from the app side: what is already there at once, the rest at the client's pace.

import type { Chunk, Environ } from '../core/types.js';

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** Bytes and chunks read ahead of the driver at most: past them a body that never waits streams. */
const READ_AHEAD_BYTES = 65536;
const READ_AHEAD_CHUNKS = 64;
/**
 * Microtask turns a read may take and still count as already available. On Node 20 a read of a
 * string, bytes or Blob body settles within 2, of FormData within 6, through a TransformStream
 * within 5; a chunk produced on a timer or after I/O cannot come in any number of them.
 */
const SETTLE_TURNS = 16;

/**
 * The Response body as a TSGI body. `readAvailable()` reads what the stream already has, bounded;
 * `next()` hands that out first, in order, then does one `reader.read()` per chunk, so the server
 * pulls at the client's pace. `close()` (the driver calls it exactly once) cancels the reader unless
 * the stream ended; after `start()` the client going away cancels it at once, which also ends a
 * `read()` that is waiting.
 */
export class ResponseBody implements AsyncIterableIterator<Chunk> {
  /** What `readAvailable` read, and its total in bytes. */
  chunks: Uint8Array[] = [];
  byteLength = 0;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #environ: Environ;
  #next = 0;
  /** A read `readAvailable` did not see settle (or one past its bound): the body's next step. */
  #pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined;
  #finished = false;
  #onAbort: (() => void) | undefined;

  constructor(stream: ReadableStream<Uint8Array>, environ: Environ) {
    this.#reader = stream.getReader();
    this.#environ = environ;
  }

  /**
   * Reads while each read settles at once, up to the bound plus one read (the end often comes right
   * after a large chunk). Never waits for a chunk; a read that failed is left for `next()`, so the
   * bytes before it go out first.
   * @returns true when the stream ended: `chunks` is the whole body.
   */
  async readAvailable(): Promise<boolean> {
    for (;;) {
      const read = this.#reader.read();
      const step = await settled(read);
      if (step?.done === true) return (this.#finished = true);
      if (
        step === undefined ||
        !(step.value instanceof Uint8Array) || // not bytes: the driver converts or refuses it
        this.byteLength >= READ_AHEAD_BYTES ||
        this.chunks.length >= READ_AHEAD_CHUNKS
      ) {
        this.#pending = read;
        return false;
      }
      this.chunks.push(step.value);
      this.byteLength += step.value.byteLength;
    }
  }

  /** Follows `tsgi.signal` from now on (a client already gone cancels at once); returns the body. */
  start(): this {
    const signal = this.#environ['tsgi.signal'];
    const onAbort = (): void => void this.#reader.cancel(signal.reason).catch(() => {});
    this.#onAbort = onAbort;
    // A client gone before the handler answered fires no more 'abort': without this, a stream that
    // never ends by itself would keep the driver's first read waiting for ever.
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    if (this.#next < this.chunks.length) {
      const chunk = this.chunks[this.#next++] as Uint8Array;
      if (this.#next === this.chunks.length) {
        this.chunks = []; // all sent: a long stream need not keep them
        this.#next = 0;
      }
      return { done: false, value: chunk };
    }
    const pending = this.#pending;
    this.#pending = undefined;
    const step = await (pending ?? this.#reader.read());
    if (step.done) {
      this.#finished = true;
      return DONE;
    }
    return { done: false, value: step.value };
  }

  async close(): Promise<void> {
    if (this.#onAbort !== undefined) this.#environ['tsgi.signal'].removeEventListener('abort', this.#onAbort);
    if (!this.#finished) await this.#reader.cancel().catch(() => {});
    this.#reader.releaseLock();
  }
}

/** What `read` resolves to if it settles within SETTLE_TURNS microtask turns; undefined if it waits or fails. */
async function settled<T>(read: Promise<T>): Promise<T | undefined> {
  let result: T | undefined;
  let done = false;
  read.then(
    (value) => {
      result = value;
      done = true;
    },
    () => {
      done = true; // left for next() to await, which throws it to the driver
    },
  );
  for (let turn = 0; !done && turn < SETTLE_TURNS; turn++) await undefined;
  return result;
}
