// Tests the development HTTP front against an in-test fake FastCGI responder.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpFront, type HttpFrontOptions } from '../../src/daemon/http-front.js';
import { startFakeResponder, type FakeHandler } from '../fastcgi/fake-responder.js';

interface Reply {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(handler: FakeHandler, options: Partial<HttpFrontOptions> = {}) {
  const fake = await startFakeResponder(handler);
  cleanup.push(() => fake.close());
  const logs: string[] = [];
  const front = await startHttpFront({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: fake.address,
    log: (line) => {
      expect(line.endsWith('\n')).toBe(true);
      logs.push(line.slice(0, -1));
    },
    ...options,
  });
  cleanup.push(() => front.close());
  return { fake, front, logs, port: front.address.port };
}

function send(
  port: number,
  options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => {});
        res.on('close', () =>
          resolve({ status: res.statusCode!, statusMessage: res.statusMessage!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }),
        );
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const part of options.body ?? []) {
        req.write(part);
        await sleep(5);
      }
      req.end();
    })();
  });
}

/** Answers with the params it received as JSON, and the request body. */
const echo: FakeHandler = async (request, out) => {
  await out.stdout(`Content-Type: application/json\r\n\r\n${JSON.stringify({ env: request.env, stdin: request.stdin.toString() })}`);
  out.end();
};

async function echoed(port: number, options?: Parameters<typeof send>[1]) {
  const reply = await send(port, options);
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body.toString()) as { env: Record<string, string>; stdin: string };
}

describe('startHttpFront (development only)', () => {
  it('builds params the way nginx fastcgi_params does (RFC 3875 §4.1)', async () => {
    const { port } = await setup(echo);
    const { env } = await echoed(port, {
      path: '/hello%20world/caf%C3%A9?x=1&y=%20',
      headers: { 'X-Custom': 'yes', Proxy: 'http://evil', 'X_Under': 'spoof', Host: 'example.test:8080' },
    });
    expect(env).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '',
      PATH_INFO: '/hello world/café',
      QUERY_STRING: 'x=1&y=%20',
      REQUEST_URI: '/hello%20world/caf%C3%A9?x=1&y=%20',
      DOCUMENT_URI: '/hello world/café',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: 'example.test',
      SERVER_PORT: String(port),
      SERVER_ADDR: '127.0.0.1',
      SERVER_SOFTWARE: 'tsgi-dev-front',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REMOTE_ADDR: '127.0.0.1',
      HTTP_X_CUSTOM: 'yes',
      HTTP_HOST: 'example.test:8080',
    });
    expect(Number(env.REMOTE_PORT)).toBeGreaterThan(0);
    expect(env).not.toHaveProperty('HTTP_PROXY');
    expect(env).not.toHaveProperty('HTTP_X_UNDER');
    expect(env).not.toHaveProperty('CONTENT_LENGTH');
    expect(env).not.toHaveProperty('CONTENT_TYPE');
  });

  it('mounts the app at scriptName and normalises the path like nginx $uri', async () => {
    const { port } = await setup(echo, { scriptName: '/app' });
    expect((await echoed(port, { path: '/app/x/y?q' })).env).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/x/y' });
    expect((await echoed(port, { path: '/app' })).env).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '' });
    expect((await echoed(port, { path: '//app///a/./b/../c/' })).env.PATH_INFO).toBe('/a/c/');
    expect((await send(port, { path: '/application' })).status).toBe(404);
    expect((await send(port, { path: '/app/../etc/passwd' })).status).toBe(404);
    expect((await send(port, { path: '/app/../../x' })).status).toBe(400);
    expect((await send(port, { path: '/app/%zz' })).status).toBe(400);
    expect((await send(port, { path: '/app/a%00b' })).status).toBe(400);
  });

  it('streams a request body to STDIN, with CONTENT_LENGTH and CONTENT_TYPE when present', async () => {
    const { port } = await setup(echo);
    const sized = await echoed(port, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', 'Content-Length': '11' },
      body: ['hello', ' ', 'world'],
    });
    expect(sized.stdin).toBe('hello world');
    expect(sized.env).toMatchObject({ CONTENT_LENGTH: '11', CONTENT_TYPE: 'text/plain', REQUEST_METHOD: 'POST' });
    const chunked = await echoed(port, { method: 'PUT', body: ['a', 'b', 'c'] });
    expect(chunked.stdin).toBe('abc');
    expect(chunked.env).not.toHaveProperty('CONTENT_LENGTH');
  });

  it('relays status, reason phrase and every Set-Cookie separately', async () => {
    const { port } = await setup(async (_request, out) => {
      await out.stdout('Status: 418 I am a teapot\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\nshort and stout');
      out.end();
    });
    const reply = await send(port);
    expect(reply.status).toBe(418);
    expect(reply.statusMessage).toBe('I am a teapot');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2']);
    expect(reply.headers['x-multi']).toBe('1, 2');
    expect(reply.body.toString()).toBe('short and stout');
  });

  it('relays Upgrade on a 426 Upgrade Required (RFC 9110 §15.5.22), as nginx does, and drops it elsewhere', async () => {
    const { port } = await setup(async (request, out) => {
      const status = request.env.PATH_INFO === '/required' ? '426 Upgrade Required' : '200 OK';
      await out.stdout(`Status: ${status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbody`);
      out.end();
    });
    const required = await send(port, { path: '/required' });
    expect([required.status, required.headers.upgrade]).toEqual([426, 'websocket']);
    const ok = await send(port, { path: '/ok' });
    expect([ok.status, ok.headers.upgrade]).toEqual([200, undefined]);
  });

  it('does not relay the fields the app\'s Connection names, nor Proxy-Connection (RFC 9110 §7.6.1)', async () => {
    const { port } = await setup(async (_request, out) => {
      await out.stdout('Connection: X-Hop\r\nX-Hop: 1\r\nProxy-Connection: keep-alive\r\nX-Kept: 2\r\n\r\nbody');
      out.end();
    });
    const reply = await send(port);
    expect([reply.headers['x-hop'], reply.headers['proxy-connection'], reply.headers['x-kept']]).toEqual([undefined, undefined, '2']);
  });

  it('streams a large response body intact', async () => {
    const part = Buffer.alloc(100_000, 'q');
    const { port } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: application/octet-stream\r\n\r\n');
      for (let i = 0; i < 50; i++) await out.stdout(part);
      out.end();
    });
    const reply = await send(port);
    expect(reply.complete).toBe(true);
    expect(reply.body.length).toBe(5_000_000);
  });

  it('logs the app stderr and one line per request', async () => {
    const { port, logs } = await setup(async (_request, out) => {
      out.stderr('something odd\n');
      await out.stdout('Status: 204 No Content\r\n\r\n');
      out.end();
    });
    expect((await send(port, { path: '/x' })).status).toBe(204);
    expect(logs).toContain('tsgi-dev-front: FastCGI stderr: something odd');
    expect(logs.some((line) => /^GET \/x 204 \d+ms$/.test(line))).toBe(true);
  });

  it('with relayStderr false, logs the request but not the stderr (tsgi fastcgi --http: the daemon logs it)', async () => {
    const { port, logs } = await setup(
      async (_request, out) => {
        out.stderr('something odd\n');
        await out.stdout('Status: 204 No Content\r\n\r\n');
        out.end();
      },
      { relayStderr: false },
    );
    expect((await send(port, { path: '/x' })).status).toBe(204);
    expect(logs.filter((line) => line.includes('something odd'))).toEqual([]);
    expect(logs.some((line) => /^GET \/x 204 \d+ms$/.test(line))).toBe(true);
  });

  it('answers 502 when the daemon is unreachable', async () => {
    const { fake, port, logs } = await setup(echo);
    await fake.close();
    const reply = await send(port);
    expect(reply.status).toBe(502);
    expect(logs.some((line) => line.includes('FCGI_CONNECT_FAILED') || line.includes('cannot connect'))).toBe(true);
  });

  it('answers 502 when the daemon closes before the response head', async () => {
    const { port } = await setup((_request, out) => out.destroy());
    expect((await send(port)).status).toBe(502);
  });

  it('destroys the HTTP response when the daemon breaks after the head went out', async () => {
    const { port } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: text/plain\r\n\r\nfirst part');
      await sleep(30);
      out.destroy();
    });
    const reply = await send(port);
    expect(reply.status).toBe(200);
    expect(reply.complete).toBe(false);
    expect(reply.body.toString()).toBe('first part');
  });

  it('closes the FastCGI connection when the HTTP client goes away mid-response', async () => {
    let resolveAborted!: () => void;
    const aborted = new Promise<void>((resolve) => (resolveAborted = resolve));
    const { port, logs } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: text/plain\r\n\r\n');
      while (!out.gone()) {
        await out.stdout('tick\n');
        await sleep(5);
      }
      resolveAborted();
    });
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    await aborted;
    await sleep(20);
    expect(logs.some((line) => /^GET \/stream client-gone \d+ms$/.test(line))).toBe(true);
  });

  it('reuses keep-alive FastCGI connections and opens more when all are busy (FastCGI spec §5.1)', async () => {
    const { fake, port } = await setup(async (request, out) => {
      await sleep(Number(request.env.QUERY_STRING || 0));
      await echo(request, out);
    });
    for (let i = 0; i < 3; i++) await echoed(port);
    expect(fake.connections()).toBe(1);
    await Promise.all([echoed(port, { path: '/?50' }), echoed(port, { path: '/?50' }), echoed(port, { path: '/?50' })]);
    expect(fake.connections()).toBe(3);
    await echoed(port);
    expect(fake.connections()).toBe(3);
    expect(fake.requests.every((r) => r.keepConn)).toBe(true);
  });

  it('retries a bodiless request on a fresh connection when a pooled one turns out stale', async () => {
    const perConnection = new Map<number, number>();
    const { fake, port } = await setup(async (request, out) => {
      const seen = (perConnection.get(request.connectionId) ?? 0) + 1;
      perConnection.set(request.connectionId, seen);
      // A connection dies as its second request arrives, as a restarting daemon's would.
      if (seen === 2) return out.destroy();
      await echo(request, out);
    });
    await echoed(port);
    expect((await send(port)).status).toBe(200);
    expect(fake.connections()).toBe(2);
    expect(fake.requests.length).toBe(3);
    // A request with a body is not resent (like nginx with non-idempotent requests): 502.
    expect((await send(port, { method: 'POST', headers: { 'Content-Length': '1' }, body: ['x'] })).status).toBe(502);
    expect(fake.requests.length).toBe(4);
  });
});
