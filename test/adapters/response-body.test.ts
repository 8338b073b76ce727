// Tests ResponseBody's read-ahead on its own: each bound (bytes, chunks, settle turns) stops it, and nothing is lost or reordered.
import { describe, expect, it } from 'vitest';
import { ResponseBody } from '../../src/adapters/response-body.js';
import type { Chunk, Environ } from '../../src/core/types.js';

/** Enough of an environ for the body: only `tsgi.signal` is read, and only by `start()`. */
function environ(): Environ {
  return { 'tsgi.signal': new AbortController().signal } as unknown as Environ;
}

/** A stream with every chunk enqueued at once, then closed. */
function ready(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Chunks `count` long, each `size` bytes filled with its own index. */
function chunksOf(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(size).fill(i & 0xff));
}

/** Everything the body hands out from where it stands, then closes it, as the driver does. */
async function drain(body: ResponseBody): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for (;;) {
    const step = await body.next();
    if (step.done === true) break;
    out.push(step.value);
  }
  await body.close();
  return out;
}

describe('ResponseBody.readAvailable', () => {
  it('reads a whole body that is there at once, and says it is complete', async () => {
    const chunks = chunksOf(3, 10);
    const body = new ResponseBody(ready(chunks), environ());
    expect(await body.readAvailable()).toBe(true);
    expect(body.chunks).toEqual(chunks);
    expect(body.byteLength).toBe(30);
  });

  it('stops once 64 KiB are read, and hands the rest out in order', async () => {
    const chunks = chunksOf(4, 40 * 1024); // 40, 80 KiB: the third read is kept for next()
    const body = new ResponseBody(ready(chunks), environ());
    expect(await body.readAvailable()).toBe(false);
    expect(body.chunks).toHaveLength(2);
    expect(body.byteLength).toBe(80 * 1024);
    expect(await drain(body.start())).toEqual(chunks);
  });

  it('stops after 64 chunks, however small, and hands the rest out in order', async () => {
    const chunks = chunksOf(100, 1);
    const body = new ResponseBody(ready(chunks), environ());
    expect(await body.readAvailable()).toBe(false);
    expect(body.chunks).toHaveLength(64);
    expect(body.byteLength).toBe(64);
    expect(await drain(body.start())).toEqual(chunks);
  });

  it('does not wait for a chunk that is not there yet (settle turns), and loses nothing', async () => {
    const first = new Uint8Array([1]);
    const later = new Uint8Array([2]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(first);
        await gate; // a chunk made after I/O: no number of microtask turns brings it
        controller.enqueue(later);
        controller.close();
      },
    });
    const body = new ResponseBody(stream, environ());
    expect(await body.readAvailable()).toBe(false);
    expect(body.chunks).toEqual([first]);
    setTimeout(release, 5);
    expect(await drain(body.start())).toEqual([first, later]);
  });

  it('leaves a chunk that is not bytes for the driver, with the bytes before it first', async () => {
    const bytes = new Uint8Array([7]);
    const stream = new ReadableStream<unknown>({
      start(controller) {
        controller.enqueue(bytes);
        controller.enqueue('text');
        controller.close();
      },
    }) as ReadableStream<Uint8Array>;
    const body = new ResponseBody(stream, environ());
    expect(await body.readAvailable()).toBe(false);
    expect(body.chunks).toEqual([bytes]);
    expect(await drain(body.start())).toEqual([bytes, 'text']);
  });

  it('cancels the stream when closed before it ended', async () => {
    let cancelled: unknown = 'not cancelled';
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(1));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const body = new ResponseBody(stream, environ());
    expect(await body.readAvailable()).toBe(false);
    await body.close();
    expect(cancelled).toBeUndefined();
  });
});
