// Test helpers for the adapters: a counting tsgi.input, an environ around it, a driver run with hooks, a gate.

import { runApp, type Outcome } from '../../src/core/driver.js';
import { buildEnviron } from '../../src/core/environ.js';
import { RequestAbortedError } from '../../src/core/errors.js';
import type { App, Environ, HeaderList, InputStream } from '../../src/core/types.js';
import { requestBody, requestParams, type TestRequest } from '../../src/testing/environ-builder.js';

/** A promise the test opens by hand: proves ordering without timers. */
export function gate(): { promise: Promise<void>; open(): void; opened: boolean } {
  let open!: () => void;
  const state = {
    promise: new Promise<void>((resolve) => {
      open = resolve;
    }),
    opened: false,
    open: () => {
      state.opened = true;
      open();
    },
  };
  return state;
}

/** tsgi.input that hands out `body` in `chunkSize` pieces only when read, counting what was pulled. */
export class PullInput implements InputStream {
  readonly #body: Uint8Array;
  readonly #chunkSize: number;
  #offset = 0;
  #error: unknown;
  /** Bytes handed to a reader so far. */
  pulled = 0;

  constructor(body: Uint8Array, chunkSize = 16384) {
    this.#body = body;
    this.#chunkSize = chunkSize;
  }

  /** Makes later reads fail as if the client went away. */
  fail(error: unknown = new RequestAbortedError()): void {
    this.#error = error;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#offset >= this.#body.byteLength) return null;
    const chunk = this.#body.subarray(this.#offset, this.#offset + this.#chunkSize);
    this.#offset += chunk.byteLength;
    this.pulled += chunk.byteLength;
    return chunk;
  }

  async readAll(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) parts.push(chunk);
    return Buffer.concat(parts);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return { next: async () => {
      const chunk = await this.read();
      return chunk === null ? { done: true, value: undefined } : { done: false, value: chunk };
    } };
  }
}

/** An environ for `request`; its body comes from `input` (default: a PullInput over request.body). */
export function environFor(
  request: TestRequest,
  input?: InputStream,
): { environ: Environ; abort(reason?: unknown): void; errors: string[]; input: InputStream } {
  const controller = new AbortController();
  const errors: string[] = [];
  const stream = input ?? new PullInput(requestBody(request) ?? new Uint8Array(0));
  const environ = buildEnviron(requestParams(request), {
    input: () => stream,
    errors: { write: (text) => void errors.push(text) },
    signal: controller.signal,
    multithread: true,
    multiprocess: false,
    runOnce: false,
  });
  return { environ, abort: (reason) => controller.abort(reason ?? new RequestAbortedError()), errors, input: stream };
}

/** What a driver run produced. */
export interface Driven {
  status: string;
  headers: HeaderList;
  chunks: Buffer[];
  body: Buffer;
  outcome: Outcome;
  /** `start`, `write`, `drain`, `end`, `abort` in order. */
  events: string[];
  log: string[];
  header(name: string): string | undefined;
  all(name: string): string[];
}

export interface DriveHooks {
  /** Called with each body chunk as the driver sends it. */
  onWrite?(chunk: Buffer, index: number): void;
  /** Called when the head goes out. */
  onStart?(status: string): void;
  /** The sink's backpressure answer for chunk `index` (default true). */
  writeReturns?(index: number): boolean;
  /** What `drain()` waits for (default: nothing). */
  drain?(): Promise<void>;
}

/** Runs `app` through the real driver with a sink that records everything and applies `hooks`. */
export async function drive(app: App, environ: Environ, hooks: DriveHooks = {}): Promise<Driven> {
  const result = { status: '', headers: [] as HeaderList, chunks: [] as Buffer[], events: [] as string[], log: [] as string[] };
  const outcome = await runApp(
    app,
    environ,
    {
      start(status, headers) {
        result.events.push('start');
        result.status = status;
        result.headers = headers;
        hooks.onStart?.(status);
      },
      write(chunk) {
        const index = result.chunks.length;
        result.events.push('write');
        result.chunks.push(Buffer.from(chunk));
        hooks.onWrite?.(Buffer.from(chunk), index);
        return hooks.writeReturns?.(index) ?? true;
      },
      drain() {
        result.events.push('drain');
        return hooks.drain?.() ?? Promise.resolve();
      },
      end() {
        result.events.push('end');
      },
      abort() {
        result.events.push('abort');
      },
    },
    { log: (line) => void result.log.push(line) },
  );
  const body = Buffer.concat(result.chunks);
  return {
    ...result,
    body,
    outcome,
    header: (name) => result.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1],
    all: (name) => result.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v),
  };
}

/** `size` bytes holding every byte value, in a pattern that shows reordering. */
export function binary(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

/**
 * A byte stream of `total` chunks of 1 KiB that makes each chunk only when read (highWaterMark 0),
 * chunk n (from 1) filled with `n & 0xff`; `pulls()` says how many were made so far.
 */
export function pulledStream(total: number): { stream: ReadableStream<Uint8Array>; pulls(): number } {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(1024).fill(pulls & 0xff));
        if (pulls === total) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulls: () => pulls };
}
