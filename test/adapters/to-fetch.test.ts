// Tests toFetch: a TSGI app served as a fetch handler (Request → Response) through the real driver.

import { describe, expect, it } from 'vitest';
import { toFetch } from '../../src/adapters/fetch.js';
import type { App, Environ } from '../../src/core/types.js';
import { binary, gate } from './helpers.js';

const quiet = { log: () => {} };

describe('toFetch: the environ', () => {
  it('is what a front server would send for the Request (RFC 3875 §4.1)', async () => {
    let seen: Environ | undefined;
    const app: App = (environ, startResponse) => {
      seen = environ;
      startResponse('200 OK', []);
      return [];
    };
    await toFetch(app, { ...quiet, scriptName: '/app', extra: { REMOTE_ADDR: '10.1.2.3' } })(
      new Request('https://example.org:8443/app/a%20b/%C3%BC?q=%41', { headers: { 'X-Thing': 'v', Cookie: 'c=1' } }),
    );
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/app',
      PATH_INFO: '/a b/ü',
      QUERY_STRING: 'q=%41',
      SERVER_NAME: 'example.org',
      SERVER_PORT: '8443',
      HTTP_HOST: 'example.org:8443',
      HTTP_X_THING: 'v',
      HTTP_COOKIE: 'c=1',
      REMOTE_ADDR: '10.1.2.3',
      'tsgi.url_scheme': 'https',
    });
    expect(seen?.CONTENT_LENGTH).toBeUndefined();
  });

  it('answers 400 for an invalid percent-escape, without calling the app', async () => {
    let called = false;
    const res = await toFetch(() => {
      called = true;
      return [];
    }, quiet)(new Request('http://x/bad%zzpath'));
    expect(res.status).toBe(400);
    expect(called).toBe(false);
  });

  it('delivers the request body to tsgi.input, binary intact, with or without a length', async () => {
    const data = binary(200_000);
    const echo: App = async (environ, startResponse) => {
      const body = await environ['tsgi.input'].readAll();
      startResponse('200 OK', [['X-Length', environ.CONTENT_LENGTH ?? 'none']]);
      return [body];
    };
    const withLength = await toFetch(echo, quiet)(new Request('http://x/', { method: 'POST', body: data, headers: { 'Content-Length': String(data.byteLength) } }));
    expect(Buffer.from(await withLength.arrayBuffer()).equals(data)).toBe(true);
    const streamed = new ReadableStream({
      start(controller) {
        controller.enqueue(data.subarray(0, 1000));
        controller.enqueue(data.subarray(1000));
        controller.close();
      },
    });
    const chunked = await toFetch(echo, quiet)(new Request('http://x/', { method: 'POST', body: streamed, duplex: 'half' } as RequestInit));
    expect(chunked.headers.get('x-length')).toBe('none');
    expect(Buffer.from(await chunked.arrayBuffer()).equals(data)).toBe(true);
  });
});

describe('toFetch: the Response', () => {
  it('keeps each Set-Cookie and the reason phrase', async () => {
    const app: App = (environ, startResponse) => {
      startResponse('201 Made It', [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Type', 'text/plain']]);
      return ['ok'];
    };
    const res = await toFetch(app, quiet)(new Request('http://x/'));
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Made It');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(res.headers.get('content-length')).toBe('2'); // the driver declared the array's length
    expect(await res.text()).toBe('ok');
  });

  it('resolves at the first chunk and streams the rest while the app is still producing', async () => {
    const second = gate();
    const app: App = async function* (environ, startResponse) {
      startResponse('200 OK', [['Content-Type', 'text/event-stream']]);
      yield 'data: 1\n\n';
      await second.promise;
      yield 'data: 2\n\n';
    };
    const res = await toFetch(app, quiet)(new Request('http://x/'));
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('data: 1\n\n');
    second.open(); // only now can the app go on: nothing waited for the end
    const rest = await reader.read();
    expect(Buffer.from(rest.value!).toString()).toBe('data: 2\n\n');
    expect((await reader.read()).done).toBe(true);
  });

  it('stops pulling the app when the consumer does not read (backpressure at highWaterMark)', async () => {
    let pulled = 0;
    const app: App = function* (environ, startResponse) {
      startResponse('200 OK', []);
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield new Uint8Array(16384);
      }
    };
    const res = await toFetch(app, { ...quiet, highWaterMark: 65536 })(new Request('http://x/'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pulled).toBeLessThanOrEqual(6);
    expect(pulled).toBeGreaterThanOrEqual(4);
    await res.body!.cancel();
  });

  it('aborts tsgi.signal and closes the body when the consumer cancels', async () => {
    const closed = gate();
    let signal: AbortSignal | undefined;
    const app: App = async function* (environ, startResponse) {
      signal = environ['tsgi.signal'];
      startResponse('200 OK', []);
      try {
        for (;;) {
          yield 'tick\n';
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      } finally {
        closed.open();
      }
    };
    const res = await toFetch(app, quiet)(new Request('http://x/'));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await closed.promise;
    expect(signal?.aborted).toBe(true);
  });

  it('aborts tsgi.signal when the Request signal aborts', async () => {
    const controller = new AbortController();
    const waiting = gate();
    let signal: AbortSignal | undefined;
    const app: App = async (environ, startResponse) => {
      signal = environ['tsgi.signal'];
      waiting.open();
      await new Promise((resolve) => signal!.addEventListener('abort', resolve));
      startResponse('200 OK', []);
      return [];
    };
    const pending = toFetch(app, quiet)(new Request('http://x/', { signal: controller.signal }));
    await waiting.promise;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'TSGI_REQUEST_ABORTED' });
    expect(signal?.aborted).toBe(true);
  });

  it('gives a generic 500 for an error before the head, and errors the body for one after', async () => {
    const before = await toFetch(() => {
      throw new Error('secret');
    }, quiet)(new Request('http://x/'));
    expect(before.status).toBe(500);
    expect(await before.text()).toBe('Internal Server Error\n');
    const after: App = async function* (environ, startResponse) {
      startResponse('200 OK', []);
      yield 'partial';
      throw new Error('midway');
    };
    const res = await toFetch(after, quiet)(new Request('http://x/'));
    await expect(res.text()).rejects.toThrow();
  });

  it('has a null body for HEAD, 204 and 304 (WHATWG fetch "null body status")', async () => {
    const app: App = (environ, startResponse) => {
      startResponse(environ.PATH_INFO === '/empty' ? '204 No Content' : '200 OK', [['Content-Length', '4']]);
      return environ.PATH_INFO === '/empty' ? [] : ['body'];
    };
    const head = await toFetch(app, quiet)(new Request('http://x/', { method: 'HEAD' }));
    expect(head.body).toBeNull();
    expect(head.headers.get('content-length')).toBe('4');
    const empty = await toFetch(app, quiet)(new Request('http://x/empty'));
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
  });

  it('copies chunks, so an app may reuse its buffer once the next one is pulled (docs/spec.md "The body")', async () => {
    const app: App = function* (environ, startResponse) {
      startResponse('200 OK', []);
      const buffer = new Uint8Array(4);
      for (const letter of 'abc') {
        buffer.fill(letter.charCodeAt(0));
        yield buffer;
      }
    };
    const res = await toFetch(app, quiet)(new Request('http://x/'));
    expect(await res.text()).toBe('aaaabbbbcccc');
  });
});
