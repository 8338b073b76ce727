// Tests fromFetch: a fetch-style handler (Request → Response) run as a TSGI app through the real driver.

import { describe, expect, it } from 'vitest';
import { fromFetch } from '../../src/adapters/fetch.js';
import type { Environ } from '../../src/core/types.js';
import { TestClient } from '../../src/testing/client.js';
import { PullInput, binary, drive, environFor, gate, pulledStream } from './helpers.js';

describe('fromFetch: the Request', () => {
  it('rebuilds the URL, method and headers from the environ (docs/spec.md "URL reconstruction")', async () => {
    let seen: Request | undefined;
    let second: Environ | undefined;
    const app = fromFetch((request, environ) => {
      seen = request;
      second = environ;
      return new Response('ok');
    });
    const { environ } = environFor({
      method: 'DELETE',
      url: '/mount/a%20b/c?x=1&y=%2F',
      scriptName: '/mount',
      headers: { 'X-Custom': 'v', Accept: 'text/html', Connection: 'close' },
      extra: { HTTPS: 'on', HTTP_HOST: 'example.org:8443' },
    });
    await drive(app, environ);
    // Below the mount point by default, so routes match wherever the app is mounted.
    expect(seen?.url).toBe('https://example.org:8443/a%20b/c?x=1&y=%2F');
    expect(seen?.method).toBe('DELETE');
    expect(seen?.headers.get('x-custom')).toBe('v');
    expect(seen?.headers.get('accept')).toBe('text/html');
    expect(seen?.headers.has('connection')).toBe(false); // hop-by-hop: the front server's, not the app's
    expect(second).toBe(environ); // the environ is the second argument (Hono's c.env)
  });

  it('gives the Request a Host header, as @hono/node-server, Deno and Bun do (virtual hosts, origin checks)', async () => {
    const app = fromFetch((request) => new Response(`${request.headers.get('host')} ${new URL(request.url).host}`));
    const client = new TestClient(app);
    expect((await client.get('/', { Host: 'example.org:8080' })).text()).toBe('example.org:8080 example.org:8080');
    // No Host from the client (HTTP/1.0): the URL's own, SERVER_NAME and a non-default SERVER_PORT.
    const { environ } = environFor({ url: '/', extra: { SERVER_NAME: 'fallback.test', SERVER_PORT: '8443', HTTPS: 'on' } });
    delete environ.HTTP_HOST;
    expect((await drive(app, environ)).body.toString()).toBe('fallback.test:8443 fallback.test:8443');
  });

  it('puts SCRIPT_NAME in the URL with includeScriptName (for handlers told their base path)', async () => {
    let seen: Request | undefined;
    const app = fromFetch((request) => ((seen = request), new Response('ok')), { includeScriptName: true });
    const { environ } = environFor({ url: '/mount/x?y=1', scriptName: '/mount' });
    await drive(app, environ);
    expect(new URL(seen!.url).pathname + new URL(seen!.url).search).toBe('/mount/x?y=1');
  });

  it('gives GET and HEAD no body, and POST a body with its Content-Type and Content-Length', async () => {
    const bodies: Array<string | null> = [];
    const app = fromFetch(async (request) => {
      bodies.push(request.body === null ? null : await request.text());
      return new Response(request.headers.get('content-type') ?? '-');
    });
    const client = new TestClient(app);
    await client.get('/');
    const res = await client.post('/', 'a=1', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(bodies).toEqual([null, 'a=1']);
    expect(res.text()).toBe('application/x-www-form-urlencoded');
  });

  it('does not read the body ahead: tsgi.input is pulled only when the handler reads', async () => {
    const input = new PullInput(binary(256 * 1024), 8192);
    let pulledBeforeRead = -1;
    const app = fromFetch(async (request) => {
      await new Promise((resolve) => setImmediate(resolve));
      pulledBeforeRead = input.pulled;
      const bytes = new Uint8Array(await request.arrayBuffer());
      return new Response(String(bytes.byteLength));
    });
    const { environ } = environFor({ method: 'POST', url: '/', headers: { 'Content-Length': String(256 * 1024) } }, input);
    const res = await drive(app, environ);
    expect(pulledBeforeRead).toBe(0);
    expect(res.body.toString()).toBe(String(256 * 1024));
  });

  it('keeps binary request and response bodies intact', async () => {
    const data = binary(300_000);
    const app = fromFetch(async (request) => new Response(await request.arrayBuffer()));
    const res = await new TestClient(app).post('/', data, { 'Content-Type': 'application/octet-stream' });
    expect(res.body.equals(data)).toBe(true);
  });

  it('aborts request.signal when tsgi.signal aborts', async () => {
    const started = gate();
    let signal: AbortSignal | undefined;
    const app = fromFetch(async (request) => {
      signal = request.signal;
      started.open();
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
      return new Response('late');
    });
    const { environ, abort } = environFor({ url: '/' });
    const run = drive(app, environ);
    await started.promise;
    expect(signal?.aborted).toBe(false);
    abort();
    const res = await run;
    expect(signal?.aborted).toBe(true);
    expect(res.outcome).toBe('aborted');
  });

  it('answers 400 when the environ cannot be a Request (an unparseable Host), without calling the handler', async () => {
    let called = false;
    const app = fromFetch(() => {
      called = true;
      return new Response('');
    });
    const { environ, errors } = environFor({ url: '/', extra: { HTTP_HOST: 'bad host' } });
    const res = await drive(app, environ);
    expect(res.status).toBe('400 Bad Request');
    expect(called).toBe(false);
    expect(errors.join('')).toMatch(/fetch adapter: cannot build a Request/);
  });

  it.each(['CONNECT', 'TRACE', 'track'])('answers %s, which no Request can carry, 501 Not Implemented (RFC 9110 §9.1)', async (method) => {
    let called = false;
    const app = fromFetch(() => {
      called = true;
      return new Response('');
    });
    const { environ, errors } = environFor({ method, url: '/' });
    const res = await drive(app, environ);
    expect([res.status, called]).toEqual(['501 Not Implemented', false]);
    expect(errors.join('')).toContain(`cannot build a Request for ${method}`);
  });
});

describe('fromFetch: the Response', () => {
  it('sends the status with its statusText, or the RFC 9110 phrase when empty', async () => {
    const custom = await new TestClient(fromFetch(() => new Response('', { status: 418, statusText: 'Short And Stout' }))).get('/');
    expect(custom.statusLine).toBe('418 Short And Stout');
    const standard = await new TestClient(fromFetch(() => new Response('', { status: 404 }))).get('/');
    expect(standard.statusLine).toBe('404 Not Found');
  });

  it('sends every Set-Cookie separately, even with commas in Expires (getSetCookie)', async () => {
    const app = fromFetch(() => {
      const headers = new Headers({ 'Content-Type': 'text/plain' });
      headers.append('Set-Cookie', 'a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT');
      headers.append('Set-Cookie', 'b=2; Path=/');
      return new Response('x', { headers });
    });
    const res = await new TestClient(app).get('/');
    expect(res.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual([
      'a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT',
      'b=2; Path=/',
    ]);
    expect(res.header('content-type')).toBe('text/plain');
  });

  it('drops hop-by-hop headers, which startResponse would refuse', async () => {
    const app = fromFetch(() => new Response('x', { headers: { Connection: 'close, X-Hop', 'Keep-Alive': 'timeout=5', 'X-Hop': '1', 'X-Kept': '1' } }));
    const res = await new TestClient(app).get('/');
    expect(res.status).toBe(200);
    expect(res.headers.map(([n]) => n.toLowerCase()).sort()).toEqual(['content-length', 'content-type', 'x-kept']);
  });

  it('keeps Upgrade in a 426 Upgrade Required (RFC 9110 §15.5.22), and drops it elsewhere', async () => {
    const headers = { Upgrade: 'websocket', Connection: 'Upgrade' };
    const required = await new TestClient(fromFetch(() => new Response('upgrade', { status: 426, headers }))).get('/');
    expect([required.status, required.header('upgrade'), required.header('connection')]).toEqual([426, 'websocket', undefined]);
    const ok = await new TestClient(fromFetch(() => new Response('ok', { headers }))).get('/');
    expect([ok.status, ok.header('upgrade')]).toEqual([200, undefined]);
  });

  it('streams chunk by chunk: the first chunk reaches the server while the handler is still producing', async () => {
    const second = gate();
    const app = fromFetch(() => {
      const encoder = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode('first\n'));
          await second.promise; // opened only by the server seeing "first"
          controller.enqueue(encoder.encode('second\n'));
          controller.close();
        },
      });
      return new Response(stream);
    });
    const res = await drive(app, environFor({ url: '/' }).environ, { onWrite: (chunk) => chunk.toString() === 'first\n' && second.open() });
    expect(res.chunks.map(String)).toEqual(['first\n', 'second\n']);
  });

  it('pulls the Response body at the server\'s pace: one read per chunk, none while the transport is behind', async () => {
    // More than the adapter reads ahead to learn a length (64 KiB), so most of it is pulled chunk by chunk.
    const total = 200;
    const body = pulledStream(total);
    const app = fromFetch(() => new Response(body.stream));
    const seen: Array<[before: number, after: number]> = [];
    const res = await drive(app, environFor({ url: '/' }).environ, {
      writeReturns: () => false, // the transport is behind after every chunk
      drain: async () => {
        const before = body.pulls();
        await new Promise((resolve) => setImmediate(resolve));
        seen.push([before, body.pulls()]);
      },
    });
    expect(seen.length).toBe(total);
    for (const [before, after] of seen) expect(after).toBe(before);
    // After what was read ahead, each chunk the driver takes is one pull.
    expect(seen[total - 1]![0] - seen[total - 21]![0]).toBe(20);
    expect(res.body.byteLength).toBe(total * 1024);
  });

  it('cancels the reader when the client goes away while the handler is silent', async () => {
    let cancelled: unknown = 'not cancelled';
    const app = fromFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
            },
            cancel(reason) {
              cancelled = reason;
            },
          }),
        ),
    );
    const { environ, abort } = environFor({ url: '/events' });
    const res = await drive(app, environ, { onWrite: () => setImmediate(abort) });
    expect(res.outcome).toBe('aborted');
    expect(cancelled).not.toBe('not cancelled');
  });

  it('cancels the reader at once when the client went away before the handler answered', async () => {
    let cancelled = false;
    const app = fromFetch(async (request) => {
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
      // An event stream that only ever ends by being cancelled (a handler that did not check the signal).
      return new Response(new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) }));
    });
    const { environ, abort } = environFor({ url: '/events' });
    const run = drive(app, environ);
    setImmediate(abort);
    let bound: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (bound = setTimeout(() => resolve('hung'), 5000)));
    const res = await Promise.race([run, hung]);
    clearTimeout(bound);
    expect(res).not.toBe('hung');
    expect(cancelled).toBe(true);
    expect(res !== 'hung' && res.outcome).toBe('aborted');
  });

  it('answers HEAD with the headers and no body, cancelling the stream unread', async () => {
    let cancelled = false;
    const app = fromFetch(
      () =>
        new Response(new ReadableStream({ cancel: () => void (cancelled = true) }), { headers: { 'Content-Length': '5' } }),
    );
    const res = await new TestClient(app).request({ method: 'HEAD', url: '/' });
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('5');
    expect(res.body.byteLength).toBe(0);
    expect(cancelled).toBe(true);
  });

  it('turns a handler error into the driver\'s generic 500, and a non-Response into TSGI_FETCH_BAD_RESPONSE', async () => {
    const thrown = await new TestClient(fromFetch(() => {
      throw new Error('secret');
    })).get('/');
    expect(thrown.status).toBe(500);
    expect(thrown.text()).not.toContain('secret');
    const wrong = await new TestClient(fromFetch(() => ({ status: 200 }) as unknown as Response)).get('/');
    expect(wrong.status).toBe(500);
    expect(wrong.log.join('')).toContain('the handler returned Object, expected a Response');
  });

  it('cuts the response off when the body stream errors after the head', async () => {
    let sent = false;
    const app = fromFetch(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              // The first pull sends a chunk (and so the head); the second fails.
              if (sent) controller.error(new Error('disk gone'));
              else controller.enqueue(new TextEncoder().encode('partial'));
              sent = true;
            },
          }),
        ),
    );
    const res = await new TestClient(app).get('/');
    expect(res.status).toBe(200);
    expect(res.cutOff).toBe(true);
  });
});
