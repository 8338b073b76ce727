// Tests the FastCGI client (web-server side) against an in-test fake responder (FastCGI spec §5, §6.2).
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FastCgiClient } from '../../src/fastcgi/client.js';
import { ProtocolStatus, RecordType, Role, ValueName } from '../../src/fastcgi/constants.js';
import { encodeRecord } from '../../src/fastcgi/record.js';
import { startFakeResponder, type FakeHandler, type FakeResponder } from './fake-responder.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(handler: FakeHandler): Promise<{ fake: FakeResponder; client: FastCgiClient }> {
  const fake = await startFakeResponder(handler);
  cleanup.push(() => fake.close());
  const client = await FastCgiClient.connect(fake.address);
  cleanup.push(() => client.close());
  return { fake, client };
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* chunksOf(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await sleep(1);
    yield Buffer.from(part);
  }
}

const hello: FakeHandler = async (request, out) => {
  await out.stdout(`Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello ${request.env.NAME}`);
  out.stderr('warn: é\n');
  out.end(7);
};

describe('FastCgiClient', () => {
  it('sends a responder request and parses the CGI head from FCGI_STDOUT (FastCGI spec §6.2)', async () => {
    const { fake, client } = await setup(hello);
    const response = await client.request({ params: { NAME: 'world', REQUEST_METHOD: 'GET' } });
    expect(response.status).toBe(201);
    expect(response.statusText).toBe('Created');
    expect(response.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
    expect((await readAll(response.body)).toString()).toBe('hello world');
    expect(response.stderr).toBe('warn: é\n');
    expect(await response.appStatus).toBe(7);
    expect(await response.protocolStatus).toBe(ProtocolStatus.FCGI_REQUEST_COMPLETE);
    expect(fake.requests[0]).toMatchObject({ role: Role.FCGI_RESPONDER, keepConn: false, params: [['NAME', 'world'], ['REQUEST_METHOD', 'GET']] });
  });

  it('closes after the request without FCGI_KEEP_CONN (FastCGI spec §5.1)', async () => {
    const { client } = await setup(hello);
    const response = await client.request({ params: [['NAME', 'x']] });
    await readAll(response.body);
    await client.closed;
    await expect(client.request({ params: {} })).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
  });

  it('reuses the connection with keepConn (FastCGI spec §5.1)', async () => {
    const { fake, client } = await setup(hello);
    for (const name of ['one', 'two', 'three']) {
      const response = await client.request({ params: { NAME: name }, keepConn: true });
      expect((await readAll(response.body)).toString()).toBe(`hello ${name}`);
      expect(client.idle).toBe(true);
    }
    expect(fake.connections()).toBe(1);
    expect(fake.requests.every((r) => r.keepConn)).toBe(true);
  });

  it('streams an async-iterable body as STDIN records and a Uint8Array body whole', async () => {
    const echo: FakeHandler = async (request, out) => {
      await out.stdout('Content-Type: application/octet-stream\r\n\r\n');
      await out.stdout(request.stdin);
      out.end();
    };
    const { client } = await setup(echo);
    const streamed = await client.request({ params: {}, body: chunksOf('a', 'bc', '', 'def'), keepConn: true });
    expect((await readAll(streamed.body)).toString()).toBe('abcdef');
    const big = Buffer.alloc(200_000, 'z');
    const whole = await client.request({ params: {}, body: big });
    expect((await readAll(whole.body)).equals(big)).toBe(true);
  });

  it('parses a head split across STDOUT records, byte by byte', async () => {
    const { client } = await setup(async (_request, out) => {
      for (const char of 'Status: 404 Not Found\nX-A: 1\n\nbody') await out.stdout(char);
      out.end();
    });
    const response = await client.request({ params: {} });
    expect(response).toMatchObject({ status: 404, headers: [['X-A', '1']] });
    expect((await readAll(response.body)).toString()).toBe('body');
  });

  it('pauses the socket while the body is not read (backpressure)', async () => {
    const total = 32 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 1);
    const { fake, client } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: application/octet-stream\r\n\r\n');
      for (let sent = 0; sent < total; sent += chunk.length) await out.stdout(chunk);
      out.end();
    });
    const response = await client.request({ params: {} });
    await sleep(300);
    const sentWhileIdle = fake.stdoutBytes();
    expect(sentWhileIdle).toBeLessThan(total / 2);
    expect((await readAll(response.body)).length).toBe(total);
  });

  it('lets the consumer stop early and discards the rest', async () => {
    const { client } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: text/plain\r\n\r\n');
      for (let i = 0; i < 100; i++) await out.stdout(Buffer.alloc(10_000, 2));
      out.end();
    });
    const response = await client.request({ params: {}, keepConn: true });
    for await (const part of response.body) {
      expect(part.length).toBeGreaterThan(0);
      break;
    }
    expect(await response.appStatus).toBe(0);
  });

  it('errors the body with FCGI_CONNECTION_CLOSED when the connection drops before END_REQUEST', async () => {
    const { client } = await setup(async (_request, out) => {
      await out.stdout('Content-Type: text/plain\r\n\r\npartial');
      await sleep(20);
      out.destroy();
    });
    const response = await client.request({ params: {} });
    await expect(readAll(response.body)).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
    await expect(response.appStatus).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
  });

  it('rejects the request when the connection drops before the head', async () => {
    const { client } = await setup((_request, out) => out.destroy());
    await expect(client.request({ params: {} })).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
  });

  it('rejects with FCGI_REQUEST_REJECTED when the app refuses the role (FastCGI spec §5.5)', async () => {
    const { client } = await setup((_request, out) => out.endRequest(0, ProtocolStatus.FCGI_UNKNOWN_ROLE));
    await expect(client.request({ params: {}, role: Role.FCGI_AUTHORIZER })).rejects.toMatchObject({ code: 'FCGI_REQUEST_REJECTED' });
  });

  it('rejects with CGI_BAD_RESPONSE on a malformed or missing head', async () => {
    const bad = await setup(async (_request, out) => {
      await out.stdout('not a header\r\n\r\n');
      out.end();
    });
    await expect(bad.client.request({ params: {} })).rejects.toMatchObject({ code: 'CGI_BAD_RESPONSE' });
    const none = await setup((_request, out) => out.end());
    await expect(none.client.request({ params: {} })).rejects.toMatchObject({ code: 'CGI_BAD_RESPONSE' });
  });

  it('refuses a second request in flight (no multiplexing)', async () => {
    const { client } = await setup(async (request, out) => {
      await sleep(20);
      await hello(request, out);
    });
    const first = client.request({ params: { NAME: 'a' }, keepConn: true });
    await expect(client.request({ params: {} })).rejects.toMatchObject({ code: 'FCGI_CLIENT_BUSY' });
    await readAll((await first).body);
  });

  it('asks FCGI_GET_VALUES and gets only the names the app knows (FastCGI spec §4.1)', async () => {
    const { client } = await setup(hello);
    expect(await client.getValues([ValueName.FCGI_MPXS_CONNS, ValueName.FCGI_MAX_REQS, 'NOT_A_VALUE'])).toEqual({
      FCGI_MPXS_CONNS: '0',
      FCGI_MAX_REQS: '10',
    });
  });

  it('sends raw bytes for protocol tests: a bad version makes the app close the connection', async () => {
    const { client } = await setup(hello);
    const bad = encodeRecord(RecordType.FCGI_BEGIN_REQUEST, 1, new Uint8Array(8));
    bad[0] = 2;
    client.rawWrite(bad);
    await client.closed;
    expect(client.idle).toBe(false);
  });

  it('fails to connect with FCGI_CONNECT_FAILED', async () => {
    const fake = await startFakeResponder(hello);
    const { address } = fake;
    await fake.close();
    await expect(FastCgiClient.connect(address)).rejects.toMatchObject({ code: 'FCGI_CONNECT_FAILED' });
  });
});
