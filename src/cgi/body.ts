// Implements the CGI request body's way in (RFC 3875 §4.2): CONTENT_LENGTH bytes (or, for a chunked
// upload, all of stdin) into tsgi.input.

import { read } from 'node:fs';
import type { Readable } from 'node:stream';
import { RequestAbortedError } from '../core/errors.js';
import { BodyInput } from '../core/input.js';

/** Bytes asked of one read of the descriptor (what Node's streams read at once). */
const READ_BYTES = 65536;

/** Where the CGI runner reads the request body from: fd 0 ({@link FdBody}) or a stream ({@link StreamBody}). */
export interface CgiBody {
  /** The body as `tsgi.input`: exactly CONTENT_LENGTH bytes, or a stream that fails if fewer come. */
  readonly input: BodyInput;
  /**
   * Reads and drops what is left of the body, resolving once it is all read, the source ended or
   * failed (true), or after `timeoutMs` (false). Under mod_cgid stdin and stdout are one unix
   * socket, and closing it with unread bytes makes the kernel reset it: Apache then loses the end of
   * the response.
   */
  drainRest(timeoutMs: number): Promise<boolean>;
  /** Reads no more: the process may exit even if the front server keeps stdin open. */
  stop(): void;
}

/**
 * The body read from a file descriptor with `fs.read`, without opening `process.stdin`: making
 * that stream loads `net` and the stream modules, a few ms of a CGI process's start-up
 * (docs/performance.md "CGI start-up"). Reads go through libuv's thread pool, as Node's own file
 * streams do, one at a time, never past CONTENT_LENGTH; backpressure from tsgi.input stops them.
 *
 * A descriptor left non-blocking by the front server answers EAGAIN when no bytes are there yet;
 * the rest is then read through `openStream()` (process.stdin, which libuv polls), as a
 * {@link StreamBody}.
 */
export class FdBody implements CgiBody {
  /**
   * Reads of any FdBody waiting in the thread pool. Such a read cannot be cancelled, and a process
   * does not exit while one waits (Node joins its thread pool on exit): when the front server keeps
   * stdin open without sending the rest of a body, the CLI ends the process with a signal instead.
   */
  static readsInFlight = 0;
  readonly input: BodyInput;
  readonly #fd: number;
  readonly #openStream: () => Readable;
  /** CONTENT_LENGTH, or Infinity for a body that ends at end of file. */
  readonly #contentLength: number;
  /** Bytes read so far (the input stops counting once it failed). */
  #bytesRead = 0;
  #stream: StreamBody | undefined;
  #paused = false;
  #reading = false;
  #finished = false;
  #stopped = false;
  /** Called once the body is all read, ended or failed (drainRest waits for it). */
  #onFinished: (() => void) | undefined;

  /**
   * @param fd - the descriptor, 0 for a CGI request.
   * @param contentLength - CONTENT_LENGTH (RFC 3875 §4.1.2), already validated; 0 reads nothing;
   *   `undefined`: the body is what comes until end of file (a chunked upload, see runCgi).
   * @param openStream - the stream to fall back to when `fd` is non-blocking (`() => process.stdin`).
   */
  constructor(fd: number, contentLength: number | undefined, openStream: () => Readable) {
    this.#fd = fd;
    this.#contentLength = contentLength ?? Number.POSITIVE_INFINITY;
    this.#openStream = openStream;
    this.input = new BodyInput({
      contentLength,
      source: { pause: () => this.#pause(), resume: () => this.#resume() },
    });
    this.#next();
  }

  drainRest(timeoutMs: number): Promise<boolean> {
    if (this.#stream !== undefined) return this.#stream.drainRest(timeoutMs);
    if (this.#finished) return Promise.resolve(true);
    this.input.discard();
    this.#resume();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#onFinished = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#stream?.stop();
  }

  #pause(): void {
    this.#paused = true;
    this.#stream?.pause();
  }

  #resume(): void {
    this.#paused = false;
    if (this.#stream !== undefined) this.#stream.resume();
    else this.#next();
  }

  #next(): void {
    if (this.#reading || this.#paused || this.#finished || this.#stopped || this.#stream !== undefined) return;
    const left = this.#contentLength - this.#bytesRead;
    if (left <= 0) {
      this.#finish();
      return;
    }
    this.#reading = true;
    FdBody.readsInFlight++;
    // A fresh buffer per read: tsgi.input hands the bytes to the app without copying them.
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, left));
    read(this.#fd, buffer, 0, buffer.byteLength, null, (error, bytesRead) => {
      this.#reading = false;
      FdBody.readsInFlight--;
      if (error !== null) {
        if (error.code === 'EAGAIN') {
          this.#stream = new StreamBody(this.#openStream(), this.input, true);
          if (this.#paused) this.#stream.pause();
          if (this.#stopped) this.#stream.stop();
          this.#stream.whenFinished(() => this.#finish());
          return;
        }
        this.input.fail(new RequestAbortedError('cgi: error reading stdin', { cause: error }));
        this.#finish();
        return;
      }
      if (bytesRead === 0) {
        this.input.end(); // fails the input when it is short of CONTENT_LENGTH
        this.#finish();
        return;
      }
      this.#bytesRead += bytesRead;
      this.input.push(bytesRead === buffer.byteLength ? buffer : buffer.subarray(0, bytesRead));
      this.#next();
    });
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const onFinished = this.#onFinished;
    this.#onFinished = undefined;
    onFinished?.();
  }
}

/** The body read from a Node Readable (tests, embedders passing `stdin`, the EAGAIN fallback). */
export class StreamBody implements CgiBody {
  readonly input: BodyInput;
  readonly #stream: Readable;
  readonly #owned: boolean;
  #finished = false;
  readonly #onFinished: Array<() => void> = [];

  /**
   * @param stream - the request body; only CONTENT_LENGTH bytes of it are used.
   * @param input - the input to feed, or a CONTENT_LENGTH to make one for (0 reads nothing;
   *   `undefined`: until the stream ends).
   * @param owned - the stream is the process's stdin: pause and destroy it once the body is read
   *   (a caller's stream is only paused).
   */
  constructor(stream: Readable, input: BodyInput | number | undefined, owned: boolean) {
    this.#stream = stream;
    this.#owned = owned;
    this.input =
      input instanceof BodyInput
        ? input
        : new BodyInput({ contentLength: input, source: { pause: () => stream.pause(), resume: () => stream.resume() } });
    if (this.input.complete) {
      this.#finished = true;
      return;
    }
    const finish = (): void => this.#finish();
    stream.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      if (this.input.complete) finish();
    });
    stream.on('end', () => {
      this.input.end();
      finish();
    });
    stream.on('error', (error) => {
      this.input.fail(new RequestAbortedError('cgi: error reading stdin', { cause: error }));
      finish();
    });
    stream.on('close', finish);
  }

  pause(): void {
    this.#stream.pause();
  }

  resume(): void {
    this.#stream.resume();
  }

  /** Calls `callback` once the body is all read, the stream ended, failed or closed. */
  whenFinished(callback: () => void): void {
    if (this.#finished) callback();
    else this.#onFinished.push(callback);
  }

  drainRest(timeoutMs: number): Promise<boolean> {
    if (this.#finished) return Promise.resolve(true);
    this.input.discard();
    this.#stream.resume();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.whenFinished(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.#stream.pause();
    // Let the process exit even if the front server keeps our stdin open.
    if (this.#owned) this.#stream.destroy();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#owned && this.input.complete) this.stop();
    for (const callback of this.#onFinished.splice(0)) callback();
  }
}
