// Drives real nginx (conf/nginx/tsgi.conf) in front of `tsgi fastcgi test/fixtures/fetch-length.mjs`: what a fetch app's response looks like on the wire.
//
// A body complete when the handler returns (`new Response('...')`) must reach the client with
// Content-Length, not chunked, so nginx can keep an HTTP/1.0 keep-alive client's connection open
// (RFC 9110 §8.6; docs/adapters.md "Body and its length"); an event stream must still arrive as it
// is produced. The sample's "location /" buffers responses; the event stream turns that off itself
// with X-Accel-Buffering, as SSE apps do.
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NGINX } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw, open, readBody, readUntil } from './harness/http.js';
import { startNginx } from './harness/nginx.js';
import { REPO_ROOT } from './harness/paths.js';

const TEXT = 'hello from a fetch app\n';

/** What came back on one connection: each whole response, and whether the server closed it. */
interface Exchange {
  responses: string[];
  closedByServer: boolean;
}

/**
 * Sends `paths` as HTTP/1.0 requests asking for keep-alive, one after the other on one connection,
 * each once the previous response is complete (by its Content-Length, or by the close that ends a
 * response without one). Bounded by `timeoutMs`.
 */
function http10KeepAlive(port: number, paths: string[], timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const responses: string[] = [];
    let buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closedByServer });
    };
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`e2e: HTTP/1.0 exchange not over after ${timeoutMs} ms (got ${JSON.stringify(responses)} and ${JSON.stringify(buffer.toString())})`));
    }, timeoutMs);
    const send = (): void => {
      socket.write(`GET ${paths[responses.length]} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
    };
    socket.once('connect', send);
    socket.once('error', (error) => {
      if (!settled) reject(error);
      settled = true;
      clearTimeout(timer);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const headEnd = buffer.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(buffer.subarray(0, headEnd + 2).toString('latin1'));
      if (length === null) return; // ended by the close
      const total = headEnd + 4 + Number(length[1]);
      if (buffer.length < total) return;
      responses.push(buffer.subarray(0, total).toString('utf8'));
      buffer = buffer.subarray(total);
      if (responses.length === paths.length) finish(false);
      else send();
    });
    socket.once('end', () => {
      if (buffer.length > 0) responses.push(buffer.toString('utf8'));
      finish(true);
    });
  });
}

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi → a fetch app (fromFetch): Content-Length on the wire', () => {
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;

  beforeAll(async () => {
    NGINX.require();
    daemon = await startDaemon({ app: join(REPO_ROOT, 'test/fixtures/fetch-length.mjs') });
    nginx = await startNginx({ upstream: daemon.endpoint });
  });

  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
  });

  beforeEach((context) => {
    context.onTestFailed(async () => {
      console.error(`--- nginx ---\n${(await nginx?.logs()) ?? ''}\n--- tsgi ---\n${daemon?.logs() ?? ''}`);
    });
  });

  it('a new Response(string) arrives with Content-Length and without Transfer-Encoding: chunked', async () => {
    const res = await fetchRaw(`${nginx!.url}/text`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(TEXT);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(TEXT)));
    expect(res.headers['transfer-encoding']).toBeUndefined();
    const json = await fetchRaw(`${nginx!.url}/json`);
    expect(json.headers['content-length']).toBe('17');
    expect(json.headers['transfer-encoding']).toBeUndefined();
  });

  it('HEAD gets the GET\'s Content-Length and no body (RFC 9110 §9.3.2)', async () => {
    const res = await fetchRaw(`${nginx!.url}/text`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(TEXT)));
    expect(res.body.byteLength).toBe(0);
  });

  it('an HTTP/1.0 client asking for keep-alive keeps its connection for a second request', async () => {
    const port = Number(new URL(nginx!.url).port);
    const exchange = await http10KeepAlive(port, ['/text', '/json']);
    expect(exchange.responses).toHaveLength(2);
    expect(exchange.closedByServer).toBe(false);
    const [first, second] = exchange.responses as [string, string];
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    expect(first).toMatch(/\r\nConnection: keep-alive\r\n/i);
    expect(first.endsWith(`\r\n\r\n${TEXT}`)).toBe(true);
    expect(second.endsWith('\r\n\r\n{"hello":"world"}')).toBe(true);
  });

  it('an event stream arrives event by event, chunked and without a length; the same events complete get one', async () => {
    const id = `sse-${process.pid}-${Date.now()}`;
    const res = await open(`${nginx!.url}/events?id=${id}`);
    try {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.headers['transfer-encoding']).toBe('chunked');
      // The first event arrives while the second does not exist yet: it is produced on /release.
      expect(await readUntil(res, 'data: 1\n\n')).toBe('data: 1\n\n');
      const release = await fetchRaw(`${nginx!.url}/release?id=${id}`);
      expect(release.body.toString()).toBe('released\n');
      const rest = await readBody(res);
      expect(rest.complete).toBe(true);
      expect(rest.body.toString()).toBe('data: 2 released\n\n');
    } finally {
      res.destroy();
    }
    const ready = await fetchRaw(`${nginx!.url}/events-ready`);
    expect(ready.body.toString()).toBe('data: 1\n\ndata: 2 ready\n\n');
    expect(ready.headers['content-length']).toBe(String(ready.body.byteLength));
    expect(ready.headers['transfer-encoding']).toBeUndefined();
  });
});
