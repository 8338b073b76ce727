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
 * The response written to a file descriptor with `fs.writeSync`, as Node writes `process.stdout`
 * when it is a file, but without making that stream: opening process.stdout for a pipe or socket
 * loads `net` and the stream modules, about 3 ms of every CGI request's start-up
 * (docs/performance.md "CGI start-up").
 *
 * A non-blocking descriptor makes `writeSync` fail with EAGAIN once the pipe is full; the rest, and
 * everything after, then goes through `openStream()` (process.stdout, which libuv waits on
 * properly). Front servers hand CGI scripts blocking descriptors, but opening process.stdin or
 * process.stdout makes the descriptor non-blocking, and under mod_cgid stdin and stdout are one
 * socket: an app that opens process.stdin itself sends the response down that path. Any other write error (EPIPE: the front server closed our stdout,
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
        this.#stream = new StreamOutput(this.#openStream(), this.#onError, true);
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
  readonly #waitOnFlush: boolean;
  readonly #onError: (error: unknown) => void;
  #error: unknown;

  /**
   * @param onError - called once, with the first 'error' the stream emits (EPIPE: the client went away).
   * @param waitOnFlush - `flush()` waits until the stream has taken every byte (process.stdout before
   *   the process exits). Off for a caller's stream: the caller may read it only after runCgi returns.
   */
  constructor(stream: Writable, onError: (error: unknown) => void, waitOnFlush = false) {
    this.#stream = stream;
    this.#waitOnFlush = waitOnFlush;
    this.#onError = onError;
    stream.on('error', (error) => this.#fail(error));
  }

  write(bytes: Uint8Array): boolean {
    return this.#error === undefined && this.#stream.write(bytes);
  }

  drain(): Promise<void> {
    const stream = this.#stream;
    if (this.#error !== undefined || stream.destroyed) {
      return Promise.reject(new RequestAbortedError(undefined, { cause: this.#error }));
    }
    return new Promise((resolve, reject) => {
      const settle = (error: unknown): void => {
        stream.off('drain', onDrain);
        stream.off('error', onError);
        stream.off('close', onClose);
        if (error === undefined) resolve();
        else reject(new RequestAbortedError(undefined, { cause: error }));
      };
      const onDrain = (): void => settle(undefined);
      const onError = (error: unknown): void => settle(error);
      // Destroyed without an error: no 'drain' will come.
      const onClose = (): void => settle(new Error('cgi: the output stream closed'));
      stream.once('drain', onDrain);
      stream.once('error', onError);
      stream.once('close', onClose);
    });
  }

  flush(): Promise<void> {
    const stream = this.#stream;
    if (!this.#waitOnFlush || this.#error !== undefined || stream.writableEnded || stream.destroyed) return Promise.resolve();
    // An empty write's callback runs once every write before it has been handed on, or with the
    // error that stopped them (before the stream's 'error' event, which comes a tick later).
    return new Promise((resolve) =>
      stream.write(new Uint8Array(0), (error) => {
        if (error !== null && error !== undefined) this.#fail(error);
        resolve();
      }),
    );
  }

  #fail(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#onError(error);
  }
}
