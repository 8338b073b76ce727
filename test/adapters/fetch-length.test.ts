// Tests fromFetch's Content-Length: said for a Response body complete without waiting (RFC 9110 §8.6), never waited for.

import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { fromFetch } from '../../src/adapters/fetch.js';
import type { HeaderList } from '../../src/core/types.js';
import { TestClient } from '../../src/testing/client.js';
import { drive, environFor, gate, pulledStream } from './helpers.js';

const encoder = new TextEncoder();

/** Every value of a header, case-insensitive. */
function all(res: { headers: HeaderList }, name: string): string[] {
  return res.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/** A stream of `parts` that are there at once, then, when `later` is given, one more once it opens. */
function stream(parts: string[], later?: { gate: Promise<void>; part: string; produced?: () => void }): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      if (later !== undefined) {
        await later.gate;
        later.produced?.();
        controller.enqueue(encoder.encode(later.part));
      }
      controller.close();
    },
  });
}

describe('fromFetch: Content-Length for a body that is complete without waiting (RFC 9110 §8.6)', () => {
  it.each([
    ['a string', () => new Response('hello'), 'hello'],
    ['a Uint8Array', () => new Response(encoder.encode('bytes')), 'bytes'],
    ['an ArrayBuffer', () => new Response(encoder.encode('buffer').buffer), 'buffer'],
    ['a Blob of parts', () => new Response(new Blob(['bl', 'ob'])), 'blob'],
    ['URLSearchParams', () => new Response(new URLSearchParams('a=1&b=2')), 'a=1&b=2'],
    ['a string with UTF-8 beyond ASCII', () => new Response('héllo ✓'), 'héllo ✓'],
    ['a stream whose chunks are all there', () => new Response(stream(['a', 'b', 'c'])), 'abc'],
    ['Response.json()', () => Response.json({ a: 1 }), '{"a":1}'],
  ])('says the byte length of %s, as node:http does for res.end(body)', async (_name, make, text) => {
    const res = await new TestClient(fromFetch(make)).get('/');
    expect(res.status).toBe(200);
    expect(res.text()).toBe(text);
    expect(res.header('content-length')).toBe(String(Buffer.byteLength(text)));
  });

  it('says it for Hono c.text() and c.json(), which set none themselves', async () => {
    const hono = new Hono().get('/t', (c) => c.text('hi')).get('/j', (c) => c.json({ hello: 'world' }));
    const client = new TestClient(fromFetch(hono.fetch));
    expect((await client.get('/t')).header('content-length')).toBe('2');
    expect((await client.get('/j')).header('content-length')).toBe('17');
  });

  it('says Content-Length: 0 for an empty 200, and nothing for 204 and 304', async () => {
    const empty = await new TestClient(fromFetch(() => new Response(''))).get('/');
    expect(all(empty, 'content-length')).toEqual(['0']);
    for (const status of [204, 304]) {
      const res = await new TestClient(fromFetch(() => new Response(null, { status }))).get('/');
      expect(res.status).toBe(status);
      expect(all(res, 'content-length')).toEqual([]);
    }
  });

  it('keeps the length the app set, and adds none when the app asked for Transfer-Encoding', async () => {
    const own = await new TestClient(fromFetch(() => new Response('hello', { headers: { 'Content-Length': '5' } }))).get('/');
    expect(all(own, 'content-length')).toEqual(['5']);
    expect(own.text()).toBe('hello');
    const chunked = await new TestClient(fromFetch(() => new Response('hello', { headers: { 'Transfer-Encoding': 'chunked' } }))).get('/');
    expect(all(chunked, 'content-length')).toEqual([]);
    expect(all(chunked, 'transfer-encoding')).toEqual([]); // hop-by-hop: the front server frames the body
    expect(chunked.text()).toBe('hello');
    const computed = await new TestClient(fromFetch(() => new Response('hello'))).get('/');
    expect(all(computed, 'content-length')).toEqual(['5']);
  });
});

describe('fromFetch: a body that yields later is streamed without a length, never waited for', () => {
  it('sends the first chunk before the second is produced (server-sent events), with no Content-Length', async () => {
    const second = gate();
    const order: string[] = [];
    const bound = setTimeout(() => second.open(), 5000); // a bound, should the adapter wait for the second chunk
    const app = fromFetch(() =>
      new Response(stream(['data: 1\n\n'], { gate: second.promise, part: 'data: 2\n\n', produced: () => order.push('produced 2') })),
    );
    const res = await drive(app, environFor({ url: '/events' }).environ, {
      onWrite: (chunk) => {
        order.push(`wrote ${JSON.stringify(chunk.toString())}`);
        second.open();
      },
    });
    clearTimeout(bound);
    expect(order).toEqual(['wrote "data: 1\\n\\n"', 'produced 2', 'wrote "data: 2\\n\\n"']);
    expect(res.header('content-length')).toBeUndefined();
    // The same two events, both there at once, are complete: they get a length.
    const complete = await drive(fromFetch(() => new Response(stream(['data: 1\n\n', 'data: 2\n\n']))), environFor({ url: '/' }).environ);
    expect(complete.header('content-length')).toBe('18');
  });

  it('sends every chunk read ahead once and in order, then the rest, when the stream turns out to wait', async () => {
    const last = gate();
    let pulls = 0;
    const app = fromFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>(
            {
              async pull(controller) {
                pulls++;
                if (pulls === 4) await last.promise;
                if (pulls === 5) controller.close();
                else controller.enqueue(encoder.encode('abcd'[pulls - 1]!));
              },
            },
            { highWaterMark: 0 },
          ),
        ),
    );
    let pullsAtFirstWrite = -1;
    const res = await drive(app, environFor({ url: '/' }).environ, {
      onWrite: (chunk, index) => {
        if (index === 0) pullsAtFirstWrite = pulls;
        if (chunk.toString() === 'c') last.open();
      },
    });
    expect(pullsAtFirstWrite).toBe(4); // a, b and c were read ahead; the read of d was waiting
    expect(res.chunks.map(String)).toEqual(['a', 'b', 'c', 'd']);
    expect(res.header('content-length')).toBeUndefined();
    expect(res.outcome).toBe('complete');
  });

  it('streams, without a length, a body whose stream yields something other than bytes', async () => {
    const strings = new ReadableStream<string>({ start: (controller) => (controller.enqueue('text'), controller.close()) });
    const app = fromFetch(() => new Response(strings as unknown as ReadableStream<Uint8Array>));
    const res = await new TestClient(app).get('/');
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBeUndefined();
  });

  it('reads ahead a bounded amount of a stream that never waits, and streams the rest without a length', async () => {
    const total = 4096;
    const body = pulledStream(total);
    const app = fromFetch(() => new Response(body.stream));
    let pullsAtFirstWrite = -1;
    const res = await drive(app, environFor({ url: '/' }).environ, {
      onWrite: (_chunk, index) => {
        if (index === 0) pullsAtFirstWrite = body.pulls();
      },
    });
    expect(pullsAtFirstWrite).toBeGreaterThan(1); // read ahead, but
    expect(pullsAtFirstWrite).toBeLessThan(total / 4);
    expect(res.header('content-length')).toBeUndefined();
    expect(res.body.byteLength).toBe(total * 1024);
    for (let i = 0; i < total; i++) expect(res.body[i * 1024]).toBe((i + 1) & 0xff);
  });
});

describe('fromFetch: HEAD says what GET would, where the body tells it (RFC 9110 §9.3.2)', () => {
  it('gives HEAD the Content-Length of a complete body, and no body', async () => {
    const client = new TestClient(fromFetch(() => new Response('hello', { headers: { 'Content-Type': 'text/plain' } })));
    const get = await client.get('/');
    const head = await client.request({ method: 'HEAD', url: '/' });
    expect(head.header('content-length')).toBe('5');
    expect(head.headers).toEqual(get.headers);
    expect(head.body.byteLength).toBe(0);
  });

  it('says no length for HEAD when the body is streaming, empty or null (the GET\'s may differ), and cancels the stream', async () => {
    let cancelled = false;
    const streaming = fromFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start: (controller) => controller.enqueue(encoder.encode('data: 1\n\n')),
            cancel: () => void (cancelled = true),
          }),
        ),
    );
    const head = await new TestClient(streaming).request({ method: 'HEAD', url: '/' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBeUndefined();
    expect(cancelled).toBe(true);
    // A handler that answers HEAD with an empty body (Hono answers it with a null one) says nothing of the GET's length.
    const empty = await new TestClient(fromFetch(() => new Response(''))).request({ method: 'HEAD', url: '/' });
    expect(empty.header('content-length')).toBeUndefined();
    const hono = new Hono().get('/', (c) => c.text('hi'));
    const honoHead = await new TestClient(fromFetch(hono.fetch)).request({ method: 'HEAD', url: '/' });
    expect(honoHead.header('content-length')).toBeUndefined();
    // A complete body does: the GET's length.
    const complete = await new TestClient(fromFetch(() => new Response('hi'))).request({ method: 'HEAD', url: '/' });
    expect(complete.header('content-length')).toBe('2');
  });
});
