// Implements the CGI response's way out (RFC 3875 §6): bytes to fd 1, without opening process.stdout.

import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { RequestAbortedError } from '../core/errors.js';

/** Where the CGI runner writes the response: fd 1 ({@link FdOutput}) or a stream ({@link StreamOutput}). */
export interface CgiOutput {
  /** Writes bytes in order. Returns false when the caller should await `drain()` before more. */
  write(bytes: Uint8Array): boolean;
  /** Resolves when more may be written; rejects with RequestAbortedError once the output failed. */
  drain(): Promise<void>;
  /** Resolves when everything written so far has been handed to the operating system (or failed). */
  flush(): Promise<void>;
}

/**
 * The response written to a file descriptor with `fs.writeSync`, as Node itself writes
 * `process.stdout` when it is a file, a pipe or a socket on Linux (blocking writes), but without
 * making that stream: opening process.stdout loads `net` and the stream modules, about 3 ms of every
 * CGI request's start-up (docs/performance.md "CGI start-up").
 *
 * A descriptor left non-blocking by the front server makes `writeSync` fail with EAGAIN once the
 * pipe is full; the rest, and everything after, then goes through `openStream()` (process.stdout,
 * which libuv waits on properly). Any other write error (EPIPE: the front server closed our stdout,
 * the client went away) calls `onError` once and drops later writes.
 */
export class FdOutput implements CgiOutput {
  readonly #fd: number;
  readonly #openStream: () => Writable;
  readonly #onError: (error: unknown) => void;
  #stream: StreamOutput | undefined;
  #failed = false;

  /**
   * @param fd - the descriptor, 1 for a CGI response.
   * @param openStream - the stream to fall back to when `fd` would block (`() => process.stdout`).
   * @param onError - called once with the first write error (not EAGAIN), as a stream's 'error' event.
   */
  constructor(fd: number, openStream: () => Writable, onError: (error: unknown) => void) {
    this.#fd = fd;
    this.#openStream = openStream;
    this.#onError = onError;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#stream !== undefined) return this.#stream.write(bytes);
    if (this.#failed) return false;
    let offset = 0;
    try {
      // A blocking descriptor takes all; a signal or a non-blocking one may take part.
      while (offset < bytes.byteLength) offset += writeSync(this.#fd, bytes, offset);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        this.#stream = new StreamOutput(this.#openStream(), this.#onError);
        return this.#stream.write(bytes.subarray(offset));
      }
      this.#failed = true;
      this.#onError(error);
      return false;
    }
  }

  drain(): Promise<void> {
    if (this.#stream !== undefined) return this.#stream.drain();
    return this.#failed ? Promise.reject(new RequestAbortedError()) : Promise.resolve();
  }

  flush(): Promise<void> {
    return this.#stream !== undefined ? this.#stream.flush() : Promise.resolve();
  }
}

/** The response written to a Node Writable (tests, embedders passing `stdout`, the EAGAIN fallback). */
export class StreamOutput implements CgiOutput {
  readonly #stream: Writable;
  #error: unknown;

  /** @param onError - called once when the stream emits 'error' (EPIPE: the client went away). */
  constructor(stream: Writable, onError: (error: unknown) => void) {
    this.#stream = stream;
    stream.once('error', (error) => {
      this.#error = error;
      onError(error);
    });
  }

  write(bytes: Uint8Array): boolean {
    return this.#error === undefined && this.#stream.write(bytes);
  }

  drain(): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(new RequestAbortedError(undefined, { cause: this.#error }));
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.#stream.off('error', onError);
        resolve();
      };
      const onError = (error: unknown): void => {
        this.#stream.off('drain', onDrain);
        reject(new RequestAbortedError(undefined, { cause: error }));
      };
      this.#stream.once('drain', onDrain);
      this.#stream.once('error', onError);
    });
  }

  flush(): Promise<void> {
    if (this.#error !== undefined || this.#stream.writableEnded || this.#stream.destroyed) return Promise.resolve();
    // An empty write's callback runs once every write before it has been handed on.
    return new Promise((resolve) => this.#stream.write(new Uint8Array(0), () => resolve()));
  }
}
