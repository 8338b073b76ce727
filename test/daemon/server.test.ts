// Tests the FastCGI daemon over real loopback sockets, with tsgi's own FastCGI client and raw records.

import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, Environ, StartResponse } from '../../src/core/types.js';
import { fromNodeHttp } from '../../src/adapters/node-http.js';
import express from 'express';
import { FastCgiServer, type FastCgiServerOptions } from '../../src/daemon/server.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';
import { FCGI_KEEP_CONN, ProtocolStatus, RecordType, Role } from '../../src/fastcgi/constants.js';
import { decodeParams, encodeParams } from '../../src/fastcgi/params.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { decodeEndRequestBody, encodeBeginRequestBody, encodeRecord } from '../../src/fastcgi/record.js';

const PARAMS = {
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '',
  PATH_INFO: '/',
  QUERY_STRING: '',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1',
  CONTENT_TYPE: '',
  CONTENT_LENGTH: '',
};

let servers: FastCgiServer[] = [];
const logs: string[] = [];

async function serve(app: App, options: Partial<FastCgiServerOptions> = {}): Promise<{ host: string; port: number }> {
  const server = new FastCgiServer({ app, log: (line) => logs.push(line), maxConns: 50, ...options });
  servers.push(server);
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected tcp');
  return { host: bound.host, port: bound.port };
}

afterEach(() => {
  for (const server of servers) server.destroy();
  servers = [];
  logs.length = 0;
});

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  return Buffer.concat(await collect(body)).toString();
}
async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(Buffer.from(chunk));
  return parts;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw connection that decodes the records the daemon sends back. */
async function raw(address: { host: string; port: number }) {
  const socket: Socket = connect(address);
  await new Promise((resolve) => socket.once('connect', resolve));
  const records: Array<{ type: number; id: number; content: Buffer }> = [];
  const parser = new RecordParser((type, id, content) => records.push({ type, id, content: Buffer.from(content) }));
  socket.on('data', (chunk: Buffer) => parser.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, records, closed };
}

function beginRequest(id: number, role: number = Role.FCGI_RESPONDER, flags = 0): Buffer[] {
  return [Buffer.from(encodeRecord(RecordType.FCGI_BEGIN_REQUEST, id, encodeBeginRequestBody(role, flags)))];
}
function fullRequest(id: number, flags = 0, params: Record<string, string> = PARAMS): Buffer {
  return Buffer.concat([
    ...beginRequest(id, Role.FCGI_RESPONDER, flags),
    Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, id, encodeParams(Object.entries(params)))),
    Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, id)),
    Buffer.from(encodeRecord(RecordType.FCGI_STDIN, id)),
  ]);
}

const hello: App = (environ, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ['fastcgi.connection_id']}/${environ['fastcgi.request_id']}`];
};

describe('FastCGI daemon: requests and connections', () => {
  it('answers a request with the CGI head and body on FCGI_STDOUT', async () => {
    const address = await serve(hello);
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: PARAMS });
    expect(res.status).toBe(200);
    expect(res.headers).toContainEqual(['Content-Type', 'text/plain']);
    expect(await text(res.body)).toBe('hello 1/1');
    expect(await res.protocolStatus).toBe(ProtocolStatus.FCGI_REQUEST_COMPLETE);
    expect(await res.appStatus).toBe(0);
  });

  it('keeps the connection for the next request with FCGI_KEEP_CONN (spec §5.1)', async () => {
    const address = await serve(hello);
    const client = await FastCgiClient.connect(address);
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.request({ params: PARAMS, keepConn: true });
      bodies.push(await text(res.body));
    }
    expect(bodies).toEqual(['hello 1/1', 'hello 1/1', 'hello 1/1']);
    client.close();
  });

  it('closes the connection after the request without FCGI_KEEP_CONN', async () => {
    const address = await serve(hello);
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: PARAMS, keepConn: false });
    await text(res.body);
    await client.closed; // the daemon closed it
  });

  it.each([
    [{ multiplex: false }, { FCGI_MAX_CONNS: '50', FCGI_MAX_REQS: '50', FCGI_MPXS_CONNS: '0' }],
    [{ multiplex: true, maxRequestsPerConnection: 4 }, { FCGI_MAX_CONNS: '50', FCGI_MAX_REQS: '200', FCGI_MPXS_CONNS: '1' }],
  ])('answers FCGI_GET_VALUES from the configuration %j and omits unknown names (spec §4.1)', async (options, expected) => {
    const address = await serve(hello, options);
    const client = await FastCgiClient.connect(address);
    const values = await client.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'NOT_A_VALUE']);
    expect(values).toEqual(expected);
    client.close();
  });

  it('answers each known name once however often FCGI_GET_VALUES repeats it, in one record (spec §4.1)', async () => {
    const address = await serve(hello);
    const conn = await raw(address);
    // 4000 × FCGI_MAX_CONNS is 64,000 bytes: answered once per ask, it would not fit one record.
    const asked: Array<[string, string]> = [
      ...Array.from({ length: 4000 }, (): [string, string] => ['FCGI_MAX_CONNS', '']),
      ['FCGI_MPXS_CONNS', ''],
      ['toString', ''],
      ['FCGI_MPXS_CONNS', ''],
    ];
    conn.socket.write(Buffer.from(encodeRecord(RecordType.FCGI_GET_VALUES, 0, encodeParams(asked))));
    conn.socket.write(fullRequest(1)); // answered on the same connection: it stayed up
    await conn.closed;
    const results = conn.records.filter((r) => r.type === RecordType.FCGI_GET_VALUES_RESULT);
    expect(results).toHaveLength(1);
    expect(decodeParams(results[0]!.content)).toEqual([['FCGI_MAX_CONNS', '50'], ['FCGI_MPXS_CONNS', '1']]);
    expect(conn.records.at(-1)?.type).toBe(RecordType.FCGI_END_REQUEST);
    expect(logs.join('')).not.toContain('closing connection');
  });

  it('answers an unknown record type with FCGI_UNKNOWN_TYPE and stays usable (spec §4.2)', async () => {
    const address = await serve(hello);
    const conn = await raw(address);
    conn.socket.write(Buffer.from(encodeRecord(42, 0, new Uint8Array(3))));
    conn.socket.write(fullRequest(1));
    await conn.closed;
    expect(conn.records[0]?.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
    expect(conn.records[0]?.content[0]).toBe(42);
    expect(conn.records.at(-1)?.type).toBe(RecordType.FCGI_END_REQUEST);
  });

  it('with --no-multiplex, refuses a second concurrent request with FCGI_CANT_MPX_CONN and finishes the first', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const address = await serve(async (_env, start) => {
      await gate;
      start('200 OK', []);
      return ['first'];
    }, { multiplex: false });
    const conn = await raw(address);
    conn.socket.write(fullRequest(1, FCGI_KEEP_CONN));
    conn.socket.write(Buffer.concat(beginRequest(2)));
    await sleep(50);
    const refused = conn.records.find((r) => r.type === RecordType.FCGI_END_REQUEST && r.id === 2);
    expect(refused && decodeEndRequestBody(refused.content).protocolStatus).toBe(ProtocolStatus.FCGI_CANT_MPX_CONN);
    release();
    await sleep(50);
    const first = conn.records.find((r) => r.type === RecordType.FCGI_END_REQUEST && r.id === 1);
    expect(first && decodeEndRequestBody(first.content).protocolStatus).toBe(ProtocolStatus.FCGI_REQUEST_COMPLETE);
    conn.socket.destroy();
  });

  it('refuses an unknown role with FCGI_UNKNOWN_ROLE (spec §5.5)', async () => {
    const address = await serve(hello);
    const conn = await raw(address);
    conn.socket.write(Buffer.concat(beginRequest(1, 9)));
    await sleep(50);
    const end = conn.records.find((r) => r.type === RecordType.FCGI_END_REQUEST);
    expect(end && decodeEndRequestBody(end.content).protocolStatus).toBe(ProtocolStatus.FCGI_UNKNOWN_ROLE);
    conn.socket.destroy();
  });

  it('answers 400 without calling the app when CONTENT_LENGTH is not a number', async () => {
    let called = false;
    const address = await serve(() => {
      called = true;
      return [];
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: { ...PARAMS, CONTENT_LENGTH: 'x' } });
    expect(res.status).toBe(400);
    await text(res.body);
    expect(called).toBe(false);
  });

  it('splits a large response into records of at most 65535 bytes, intact', async () => {
    const payload = randomBytes(200_000);
    const address = await serve((_env, start) => {
      start('200 OK', []);
      return [payload];
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: PARAMS });
    expect(Buffer.concat(await collect(res.body)).equals(payload)).toBe(true);
  });
});

describe('FastCGI daemon: tsgi.errors', () => {
  const noisy: App = (environ, startResponse) => {
    environ['tsgi.errors'].write('a note from the app\n');
    startResponse('200 OK', []);
    return [];
  };

  it('sends tsgi.errors as FCGI_STDERR, and only there by default', async () => {
    const client = await FastCgiClient.connect(await serve(noisy));
    const res = await client.request({ params: PARAMS });
    await text(res.body);
    expect(res.stderr).toBe('a note from the app\n');
    expect(logs.join('')).not.toContain('a note from the app');
  });

  it('with echoErrors, also writes tsgi.errors to the log as given, and still sends FCGI_STDERR', async () => {
    const client = await FastCgiClient.connect(await serve(noisy, { echoErrors: true }));
    const res = await client.request({ params: PARAMS });
    await text(res.body);
    expect(res.stderr).toBe('a note from the app\n');
    expect(logs.filter((line) => line === 'a note from the app\n')).toHaveLength(1);
  });
});

describe('FastCGI daemon: failures stay local', () => {
  it.each([
    ['a bad version', Buffer.from('0201000100080000', 'hex')],
    ['64 KiB of random bytes', randomBytes(65536)],
    ['a PARAMS pair longer than its stream', Buffer.concat([
      Buffer.from(encodeRecord(RecordType.FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(Role.FCGI_RESPONDER, 0))),
      Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1, Buffer.from([0x05, 0x7f, 0x41]))),
      Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1)),
    ])],
  ])('closes the connection that sent %s, logs one line, and keeps serving others', async (_name, bytes) => {
    const address = await serve(hello);
    const healthy = await FastCgiClient.connect(address);
    const bad = await raw(address);
    bad.socket.write(bytes);
    await bad.closed;
    expect(logs.some((line) => line.startsWith('fastcgi: closing connection'))).toBe(true);
    const res = await healthy.request({ params: PARAMS });
    expect(await text(res.body)).toMatch(/^hello/);
  });

  it('cuts the connection without FCGI_END_REQUEST when the app fails after the headers', async () => {
    const address = await serve(async function* (_env, start) {
      start('200 OK', []);
      yield 'partial';
      throw new Error('late failure');
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: PARAMS, keepConn: true });
    await expect(collect(res.body)).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
  });

  it("fires the app's AbortSignal and closes its body when the web server closes the connection", async () => {
    let aborted!: () => void;
    const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
    let finallyRan = false;
    const address = await serve(async function* (environ, start) {
      environ['tsgi.signal'].addEventListener('abort', () => aborted());
      start('200 OK', []);
      try {
        for (;;) {
          yield 'tick\n';
          await sleep(5);
        }
      } finally {
        finallyRan = true;
      }
    });
    const conn = await raw(address);
    conn.socket.write(fullRequest(1));
    await sleep(30);
    conn.socket.destroy();
    await sawAbort;
    await sleep(20);
    expect(finallyRan).toBe(true);
  });

  it('treats end-of-stream during a request as an abort, as nginx closes instead of FCGI_ABORT_REQUEST (spec §3.5)', async () => {
    let aborted!: () => void;
    const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
    const address = await serve((environ) => {
      // An app that is busy and writes nothing: only the signal can tell it the client left.
      environ['tsgi.signal'].addEventListener('abort', () => aborted());
      return new Promise(() => {});
    });
    const conn = await raw(address);
    conn.socket.write(fullRequest(1));
    await sleep(30);
    conn.socket.end();
    await sawAbort;
    await conn.closed;
  });
});

describe('FastCGI daemon: backpressure', () => {
  it('keeps reading an upload the app is not reading, holding it in a temp file, not memory', async () => {
    const upload = randomBytes(16 * 1024 * 1024);
    let received = -1;
    let inMemory = -1;
    const address = await serve(async (environ, start) => {
      // Read nothing until the daemon has taken the whole upload off the socket (or 10 s passed):
      // nginx needs that, as it stops sending a body for good once the backend's socket blocks.
      const input = environ['tsgi.input'] as unknown as { bytesReceived: number; memoryBytes: number };
      for (let waited = 0; input.bytesReceived < upload.byteLength && waited < 10_000; waited += 20) await sleep(20);
      received = input.bytesReceived;
      inMemory = input.memoryBytes;
      const body = await environ['tsgi.input'].readAll();
      start('200 OK', []);
      return [createHash('sha256').update(body).digest('hex')];
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({
      params: { ...PARAMS, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(upload.byteLength) },
      body: (async function* () {
        for (let i = 0; i < upload.byteLength; i += 65536) yield upload.subarray(i, i + 65536);
      })(),
    });
    expect(await text(res.body)).toBe(createHash('sha256').update(upload).digest('hex'));
    expect(received).toBe(upload.byteLength);
    expect(inMemory).toBeLessThanOrEqual(256 * 1024);
  });

  it('answers 413 before the app runs when CONTENT_LENGTH exceeds the limit', async () => {
    let called = false;
    const server = new FastCgiServer({ app: () => ((called = true), []), log: (line) => logs.push(line), maxBodyBytes: 1000 });
    servers.push(server);
    const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    const client = await FastCgiClient.connect(bound as { host: string; port: number });
    const res = await client.request({
      params: { ...PARAMS, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5000' },
      body: Buffer.alloc(5000),
      keepConn: true,
    });
    expect(res.status).toBe(413);
    expect(await text(res.body)).toBe('Content Too Large\n');
    expect(called).toBe(false);
    expect(logs.join('')).toMatch(/tsgi: 413 for POST \S*: a body of 5000 bytes exceeds --max-body-bytes 1000\n/);
    client.close();
  });

  it('stops pulling the body while the web server is not reading the response', async () => {
    let yielded = 0;
    const chunk = Buffer.alloc(65536, 0x61);
    const total = 512; // 32 MiB if it were all buffered
    const address = await serve(async function* (_env, start) {
      start('200 OK', []);
      for (let i = 0; i < total; i++) {
        yielded++;
        yield chunk;
      }
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: PARAMS });
    await sleep(300);
    const whileStalled = yielded;
    let bytes = 0;
    for await (const part of res.body) bytes += part.byteLength;
    expect(whileStalled).toBeLessThan(total / 4);
    expect(bytes).toBe(total * chunk.byteLength);
  });
});

describe('FastCGI daemon: PARAMS decoding', () => {
  it('passes request headers and server extension keys into the environ', async () => {
    let seen: Record<string, unknown> = {};
    const address = await serve((environ, start) => {
      seen = { ...environ };
      start('200 OK', []);
      return [];
    });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: { ...PARAMS, HTTP_X_TRACE: 'abc', HTTP_PROXY: 'http://evil' }, keepConn: true });
    await text(res.body);
    expect(seen.HTTP_X_TRACE).toBe('abc');
    expect('HTTP_PROXY' in seen).toBe(false);
    expect(seen['fastcgi.keep_conn']).toBe(true);
    expect(seen['fastcgi.role']).toBe('RESPONDER');
    expect(seen['tsgi.run_once']).toBe(false);
    client.close();
  });
});

describe('FastCGI daemon: connections the web server holds on to', () => {
  /** A web-server side that reads everything but never closes its own side (allowHalfOpen). */
  async function holdOpen(address: { host: string; port: number }) {
    const socket = connect({ ...address, allowHalfOpen: true });
    socket.on('error', () => {});
    let fin = false;
    socket.on('end', () => (fin = true)); // the daemon's FIN; we do not answer it
    socket.resume();
    await new Promise((resolve) => socket.once('connect', resolve));
    return { socket, finReceived: () => fin };
  }
  const until = async (predicate: () => boolean, ms: number): Promise<boolean> => {
    for (let waited = 0; !predicate() && waited < ms; waited += 20) await sleep(20);
    return predicate();
  };

  it('destroys a connection the web server keeps after the request without FCGI_KEEP_CONN ended it', async () => {
    const address = await serve(hello, { lingerMs: 100 });
    const server = servers.at(-1)!;
    const peer = await holdOpen(address);
    peer.socket.write(fullRequest(1)); // flags 0: the daemon ends the connection after it
    expect(await until(peer.finReceived, 2000)).toBe(true);
    expect(await until(() => server.connectionCount === 0, 2000)).toBe(true);
    peer.socket.destroy();
  });

  it('destroys an idle connection the web server keeps after the idle timeout ended it', async () => {
    const address = await serve(hello, { idleTimeoutMs: 100, lingerMs: 100 });
    const server = servers.at(-1)!;
    const peer = await holdOpen(address);
    expect(await until(peer.finReceived, 2000)).toBe(true);
    expect(await until(() => server.connectionCount === 0, 2000)).toBe(true);
    peer.socket.destroy();
  });

  it('stops gracefully within the linger, not the grace period, when a web server ignores the FIN', async () => {
    const address = await serve(hello, { lingerMs: 200 });
    const server = servers.at(-1)!;
    const peer = await holdOpen(address);
    await until(() => server.connectionCount === 1, 2000);
    const started = Date.now();
    const outcome = await Promise.race([server.close(30_000).then(() => 'closed'), sleep(5000).then(() => 'still waiting')]);
    expect(outcome).toBe('closed');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(peer.finReceived()).toBe(true);
    peer.socket.destroy();
  });

  it('serves the first request of a connection accepted just before a graceful stop, then closes it', async () => {
    // The race behind a worker retiring under nginx: nginx has connected and is sending its
    // request when the stop comes. Closing then is a 502, as nginx retries only on reused connections.
    const address = await serve(hello);
    const server = servers.at(-1)!;
    const client = await FastCgiClient.connect(address);
    expect(await until(() => server.connectionCount === 1, 2000)).toBe(true);
    const closing = server.close(30_000);
    const res = await client.request({ params: PARAMS, keepConn: true });
    expect(res.status).toBe(200);
    expect(await text(res.body)).toMatch(/^hello \d+\/1$/);
    await client.closed; // closed after that request, FCGI_KEEP_CONN notwithstanding
    expect(await Promise.race([closing.then(() => 'closed'), sleep(5000).then(() => 'still waiting')])).toBe('closed');
  });

  it('answers the records after a request cut off within the same read before it closes', async () => {
    // A sync app is answered while its read is parsed; its cut (a bad chunk after a good one) must
    // not end the socket before the read's later records are seen: FCGI_GET_VALUES still gets its
    // answer, and nothing is written after the end.
    const address = await serve((_env, start) => {
      start('200 OK', []);
      return ['ok', 42 as unknown as string];
    });
    const conn = await raw(address);
    conn.socket.write(
      Buffer.concat([
        ...beginRequest(1, Role.FCGI_RESPONDER, FCGI_KEEP_CONN),
        Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(Object.entries(PARAMS)))),
        Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1)),
        Buffer.from(encodeRecord(RecordType.FCGI_GET_VALUES, 0, encodeParams([['FCGI_MAX_CONNS', '']]))),
      ]),
    );
    await conn.closed;
    const types = conn.records.map((r) => r.type);
    expect(types).toContain(RecordType.FCGI_GET_VALUES_RESULT);
    expect(types).not.toContain(RecordType.FCGI_END_REQUEST); // cut off: no END_REQUEST (spec §5.5)
    expect(logs.join('')).not.toContain('write after end');
  });

  it('refuses a second request on such a connection with FCGI_OVERLOADED after the first one', async () => {
    const address = await serve(hello);
    const server = servers.at(-1)!;
    const conn = await raw(address);
    expect(await until(() => server.connectionCount === 1, 2000)).toBe(true);
    void server.close(30_000);
    conn.socket.write(Buffer.concat([fullRequest(1, FCGI_KEEP_CONN), ...beginRequest(2)]));
    expect(await until(() => conn.records.filter((r) => r.type === RecordType.FCGI_END_REQUEST).length === 2, 2000)).toBe(true);
    const ends = conn.records.filter((r) => r.type === RecordType.FCGI_END_REQUEST).map((r) => [r.id, decodeEndRequestBody(r.content).protocolStatus]);
    expect(ends).toEqual(expect.arrayContaining([[1, ProtocolStatus.FCGI_REQUEST_COMPLETE], [2, ProtocolStatus.FCGI_OVERLOADED]]));
  });

  it('closes such a connection after a second when no request comes', async () => {
    const address = await serve(hello, { lingerMs: 100 });
    const server = servers.at(-1)!;
    const peer = await holdOpen(address);
    expect(await until(() => server.connectionCount === 1, 2000)).toBe(true);
    void server.close(30_000);
    await sleep(500);
    expect(peer.finReceived()).toBe(false);
    expect(await until(peer.finReceived, 3000)).toBe(true);
    peer.socket.destroy();
  });

  it('closes the spool file of an unread body when the web server goes away mid-request', async () => {
    const spoolFiles = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).includes(`tsgi-body-${process.pid}-`);
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    let returned = false;
    const waitsForAbort: App = async (environ) => {
      const signal = environ['tsgi.signal'] as AbortSignal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      returned = true;
      return [];
    };
    const address = await serve(waitsForAbort, { bodyMemoryBytes: 64 * 1024 });
    const before = spoolFiles();
    const conn = await raw(address);
    const params = { ...PARAMS, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(1024 * 1024) };
    conn.socket.write(Buffer.concat([...beginRequest(1), Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(Object.entries(params)))), Buffer.from(encodeRecord(RecordType.FCGI_PARAMS, 1))]));
    for (let i = 0; i < 8; i++) conn.socket.write(encodeRecord(RecordType.FCGI_STDIN, 1, new Uint8Array(32 * 1024)));
    expect(await until(() => spoolFiles() > before, 3000)).toBe(true); // 256 KiB sent: it spilled
    conn.socket.destroy();
    expect(await until(() => returned, 3000)).toBe(true);
    expect(await until(() => spoolFiles() === before, 3000)).toBe(true);
  });

  it.each([
    ['a TSGI app', ((async (environ: Environ, start: StartResponse) => {
      const body = await environ['tsgi.input'].readAll();
      start('200 OK', []);
      return [body];
    }) as App)],
    ['Express (express.raw)', fromNodeHttp(express().post('/', express.raw({ type: '*/*', limit: '10mb' }), (req, res) => void res.send(`got ${req.body.length}`)))],
  ])('answers 413 when a body without CONTENT_LENGTH grows past --max-body-bytes: %s', async (_name, app) => {
    const address = await serve(app, { maxBodyBytes: 1000 });
    const client = await FastCgiClient.connect(address);
    const res = await client.request({ params: { ...PARAMS, REQUEST_METHOD: 'POST', PATH_INFO: '/', CONTENT_TYPE: 'application/octet-stream', HTTP_TRANSFER_ENCODING: 'chunked' }, body: new Uint8Array(5000) });
    expect(res.status, logs.join('')).toBe(413);
    expect(await text(res.body)).toBe('Content Too Large\n');
    expect(logs.join('')).toContain('tsgi: 413 for POST /: tsgi: request body exceeds 1000 bytes');
    client.close();
  });

  const endless: App = async function* (_env, start) {
    start('200 OK', []);
    for (let i = 0; i < 16 * 1024; i++) yield Buffer.alloc(65536, 0x61); // 1 GiB if it were all sent
  };
  const allAtOnce: App = (_env, start) => {
    start('200 OK', []);
    return [Buffer.alloc(16 * 1024 * 1024, 0x61)]; // queued whole; the request ends behind it
  };
  it.each([
    ['a response that waits for drain', endless],
    ['the tail of a finished request, after the daemon ended its side', allAtOnce],
  ])('drops a connection whose web server takes no response bytes for --idle-timeout-ms: %s', async (_name, app) => {
    const address = await serve(app, { idleTimeoutMs: 300, requestTimeoutMs: 60_000 });
    const server = servers.at(-1)!;
    const conn = await raw(address);
    conn.socket.pause(); // never read (so it does not see the close either: the daemon's count tells)
    conn.socket.write(fullRequest(1)); // no FCGI_KEEP_CONN
    await until(() => server.connectionCount === 1, 2000);
    expect(await until(() => server.connectionCount === 0, 5000)).toBe(true);
    expect(logs.join('')).toContain('the web server took no response bytes for 300 ms');
    conn.socket.destroy();
  });

  it('keeps a download whose web server reads slower than the daemon writes, for longer than the timeout', async () => {
    const total = 12 * 1024 * 1024;
    const address = await serve(async function* (_env, start) {
      start('200 OK', []);
      for (let sent = 0; sent < total; sent += 65536) yield Buffer.alloc(65536, 0x61);
    }, { idleTimeoutMs: 1500 });
    const socket = connect(address);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    // About 4 MB/s: 400 KiB per 100 ms, then paused. The daemon waits for 'drain' all along; on
    // loopback TCP the kernel frees room in steps of about 1.5 MiB, so a 'drain' comes every
    // 400 ms or so: never 1500 ms without one.
    const perTick = 400 * 1024;
    let received = 0;
    let budget = perTick;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      budget -= chunk.length;
      if (budget <= 0) socket.pause();
    });
    const ticker = setInterval(() => {
      budget = Math.min(budget + perTick, perTick);
      if (budget > 0) socket.resume();
    }, 100);
    const started = Date.now();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(fullRequest(1)); // the daemon closes the connection after the response
    await closed;
    clearInterval(ticker);
    expect(received).toBeGreaterThan(total); // the body, plus the records' headers and END_REQUEST
    expect(Date.now() - started).toBeGreaterThan(1500); // it did take longer than the timeout
    expect(logs.join('')).not.toContain('took no response bytes');
  });
});
