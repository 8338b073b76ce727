// Tests the development server: real HTTP on 127.0.0.1 (port 0), the app run in-process by the driver.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/core/types.js';
import { startDevServer, type DevServer } from '../../src/dev/server.js';
import { binary, gate } from '../adapters/helpers.js';

const servers: DevServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(app: App, options: { scriptName?: string } = {}) {
  const lines: string[] = [];
  const server = await startDevServer({ app, port: 0, log: (text) => void lines.push(text), ...options });
  servers.push(server);
  return { server, lines, port: server.address.port };
}

interface Reply {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

function request(port: number, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: Uint8Array | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode!, statusMessage: res.statusMessage!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('startDevServer', () => {
  it('listens on 127.0.0.1 by default and gives the app an nginx-like environ', async () => {
    let seen: Environ | undefined;
    const { port, server } = await serve((environ, startResponse) => {
      seen = environ;
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
    }, { scriptName: '/app' });
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${port}/app`);
    await request(port, { path: '/app/a%20b/../c?q=%41&x', headers: { 'X-Thing': 'caf\u00c3\u00a9', X_Under: 'dropped' } });
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/app',
      PATH_INFO: '/c',
      QUERY_STRING: 'q=%41&x',
      REQUEST_URI: '/app/a%20b/../c?q=%41&x',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: String(port),
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      HTTP_X_THING: 'café', // the header's bytes, decoded as UTF-8 (docs/spec.md "environ")
      'tsgi.url_scheme': 'http',
      'tsgi.multithread': true,
      'tsgi.run_once': false,
    });
    expect(seen?.HTTP_X_UNDER).toBeUndefined();
  });

  it('refuses bad paths itself: 400 for a bad escape, 404 outside the mount point', async () => {
    let calls = 0;
    const { port } = await serve(() => {
      calls++;
      return [];
    }, { scriptName: '/app' });
    expect((await request(port, { path: '/app/%zz' })).status).toBe(400);
    expect((await request(port, { path: '/other' })).status).toBe(404);
    expect(calls).toBe(0);
  });

  it('sends the reason phrase, every Set-Cookie, and one access-log line per request', async () => {
    const { port, lines } = await serve((environ, startResponse) => {
      startResponse('201 Made It', [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Type', 'text/plain']]);
      return ['made'];
    });
    const res = await request(port, { path: '/thing?x=1' });
    expect(res.status).toBe(201);
    expect(res.statusMessage).toBe('Made It');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.body.toString()).toBe('made');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[\S+\] "GET \/thing\?x=1 HTTP\/1\.1" 201 4 \d+ms\n$/);
  });

  it('answers HEAD with the headers and no body', async () => {
    const { port } = await serve((environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '5']]);
      return ['hello'];
    });
    const res = await request(port, { method: 'HEAD' });
    expect(res.headers['content-length']).toBe('5');
    expect(res.body.byteLength).toBe(0);
  });

  it('streams chunk by chunk: the client gets the first chunk while the app waits', async () => {
    const second = gate();
    const { port } = await serve(async function* (environ, startResponse) {
      startResponse('200 OK', [['Content-Type', 'text/event-stream']]);
      yield 'data: 1\n\n';
      await second.promise; // opened only by the client receiving the first event
      yield 'data: 2\n\n';
    });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => {
          received.push(chunk.toString());
          second.open();
        });
        res.on('end', resolve);
      }).on('error', reject);
    });
    expect(received.join('')).toBe('data: 1\n\ndata: 2\n\n');
    expect(received[0]).toBe('data: 1\n\n');
  });

  it('echoes a binary upload intact, with backpressure on the way in', async () => {
    const data = binary(4 * 1024 * 1024);
    const { port } = await serve(async (environ, startResponse) => {
      const body = await environ['tsgi.input'].readAll();
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [body];
    });
    const res = await request(port, { method: 'POST', body: data });
    expect(res.body.equals(data)).toBe(true);
  });

  it('stops pulling the app while the client does not read', async () => {
    let pulled = 0;
    const { port } = await serve(function* (environ, startResponse) {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      for (let i = 0; i < 4096; i++) {
        pulled++;
        yield new Uint8Array(65536); // 256 MiB if nothing held the app back
      }
    });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    res.pause();
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(pulled).toBeLessThan(200); // socket and kernel buffers, not the whole body
    req.destroy();
  });

  it('fires tsgi.signal and closes the body when the client goes away', async () => {
    const closed = gate();
    let signal: AbortSignal | undefined;
    const { port, lines } = await serve(async function* (environ, startResponse) {
      signal = environ['tsgi.signal'];
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      try {
        for (;;) {
          yield 'tick\n';
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        closed.open();
      }
    });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => res.once('data', () => req.destroy()));
    req.on('error', () => {});
    await closed.promise;
    expect(signal?.aborted).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines.some((line) => line.includes('(client went away)'))).toBe(true);
  });

  it('answers a failing app with the driver\'s generic 500 and logs the error', async () => {
    const { port, lines } = await serve(() => {
      throw new Error('secret');
    });
    const res = await request(port);
    expect(res.status).toBe(500);
    expect(res.body.toString()).toBe('Internal Server Error\n');
    expect(lines.join('')).toContain('Error: secret');
  });

  it('close() aborts requests in progress', async () => {
    const started = gate();
    let signal: AbortSignal | undefined;
    const { port, server } = await serve(async (environ, startResponse) => {
      signal = environ['tsgi.signal'];
      started.open();
      await new Promise((resolve) => signal!.addEventListener('abort', resolve));
      startResponse('200 OK', []);
      return [];
    });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
    req.on('error', () => {});
    await started.promise;
    servers.splice(servers.indexOf(server), 1);
    await server.close();
    expect(signal?.aborted).toBe(true);
  });
});
