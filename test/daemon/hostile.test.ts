// Hostile input against a live daemon: each named case is survived, and fresh connections still answer.

import fc from 'fast-check';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/core/types.js';
import { FastCgiServer } from '../../src/daemon/server.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';
import { FCGI_KEEP_CONN, ProtocolStatus, RecordType, Role } from '../../src/fastcgi/constants.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { decodeEndRequestBody, encodeBeginRequestBody, encodeHeader, encodeRecord } from '../../src/fastcgi/record.js';

const PARAMS = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/big', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };
const logs: string[] = [];
let server: FastCgiServer;
let address: { host: string; port: number };

const app: App = async function* (environ, start) {
  start('200 OK', []);
  if (environ.PATH_INFO === '/big') for (let i = 0; i < 512; i++) yield Buffer.alloc(65536, 0x62); // 32 MiB
  else yield 'ok';
};

beforeAll(async () => {
  server = new FastCgiServer({ app, log: (line) => logs.push(line), requestTimeoutMs: 2000 });
  address = (await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 })) as { kind: 'tcp'; host: string; port: number };
});
afterAll(() => server.destroy());

const begin = (id: number, flags = 0) => encodeRecord(RecordType.FCGI_BEGIN_REQUEST, id, encodeBeginRequestBody(Role.FCGI_RESPONDER, flags));
const header = (version: number, type: number, id: number, length: number, padding: number) => {
  const out = new Uint8Array(8);
  encodeHeader(type, id, length, padding, out);
  out[0] = version;
  return out;
};

/** Sends bytes on a fresh connection, then ends it; resolves with what came back once it closed. */
async function send(bytes: Uint8Array, endAfter = true): Promise<{ records: Array<{ type: number; id: number; content: Buffer }>; closedByServer: boolean }> {
  const socket = connect(address);
  const records: Array<{ type: number; id: number; content: Buffer }> = [];
  const parser = new RecordParser((type, id, content) => records.push({ type, id, content: Buffer.from(content) }));
  let ended = false;
  // End our side once the daemon has been quiet for 300 ms (it has said all it will), 10 s at most.
  let quiet: NodeJS.Timeout | undefined;
  const hangUp = (): void => {
    ended = true;
    clearTimeout(quiet);
    clearTimeout(limit);
    if (endAfter) socket.end();
  };
  const limit = setTimeout(hangUp, 10_000);
  socket.on('data', (chunk: Buffer) => {
    clearTimeout(quiet);
    quiet = setTimeout(hangUp, 300);
    try {
      parser.push(chunk);
    } catch {
      // the daemon never sends malformed records; a failure here fails the records check instead
    }
  });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(bytes);
  quiet = setTimeout(hangUp, 300);
  const closedByServer = await new Promise<boolean>((resolve) => {
    socket.once('close', () => {
      clearTimeout(quiet);
      clearTimeout(limit);
      resolve(!ended);
    });
  });
  return { records, closedByServer };
}

/** A normal request on a fresh connection still works. */
async function stillServes(): Promise<void> {
  const client = await FastCgiClient.connect(address);
  const res = await client.request({ params: { ...PARAMS, PATH_INFO: '/' } });
  let body = '';
  for await (const chunk of res.body) body += Buffer.from(chunk).toString();
  expect(body).toBe('ok');
  client.close();
}

describe('hostile FastCGI input, one named case each', () => {
  it.each([
    ['a bad version', header(2, RecordType.FCGI_BEGIN_REQUEST, 1, 8, 0), true],
    ['version 0', header(0, RecordType.FCGI_PARAMS, 1, 0, 0), true],
    ['a PARAMS pair whose name length is 2^31-1', Buffer.concat([
      begin(1),
      encodeRecord(RecordType.FCGI_PARAMS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01, 0x41])),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
    ]), true],
    ['a duplicated empty PARAMS', Buffer.concat([
      begin(1, FCGI_KEEP_CONN),
      encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(Object.entries({ ...PARAMS, PATH_INFO: '/' }))),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
    ]), true],
    ['STDIN before the params ended', Buffer.concat([begin(1), encodeRecord(RecordType.FCGI_STDIN, 1, Buffer.from('x'))]), true],
    ['an empty STDIN before the params ended', Buffer.concat([begin(1), encodeRecord(RecordType.FCGI_STDIN, 1)]), true],
    ['a BEGIN_REQUEST body of the wrong length', Buffer.concat([header(1, RecordType.FCGI_BEGIN_REQUEST, 1, 3, 0), Buffer.from('abc')]), true],
    ['a STDOUT record sent to the application', encodeRecord(RecordType.FCGI_STDOUT, 1, Buffer.from('x')), true],
  ] as const)('closes the connection on %s, logs one line, keeps serving', async (_name, bytes, closes) => {
    const before = logs.length;
    const result = await send(bytes);
    expect(result.closedByServer).toBe(closes);
    expect(logs.slice(before).filter((l) => l.startsWith('fastcgi: closing connection'))).toHaveLength(1);
    await stillServes();
  });

  it('answers type 0 with FCGI_UNKNOWN_TYPE and keeps the connection (spec §4.2)', async () => {
    const result = await send(encodeRecord(0, 0, new Uint8Array(0)));
    expect(result.records[0]?.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
    expect(result.closedByServer).toBe(false);
  });

  it.each([RecordType.FCGI_GET_VALUES_RESULT, RecordType.FCGI_UNKNOWN_TYPE])(
    'answers an application-only type (%i) on the management id with FCGI_UNKNOWN_TYPE and keeps the connection',
    async (type) => {
      const result = await send(encodeRecord(type, 0, new Uint8Array(8)));
      expect(result.records[0]?.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
      expect(result.closedByServer).toBe(false);
    },
  );

  it('ignores records for a request id that was never begun', async () => {
    const result = await send(Buffer.concat([
      encodeRecord(RecordType.FCGI_PARAMS, 9, encodeParams([['A', 'b']])),
      encodeRecord(RecordType.FCGI_STDIN, 9, Buffer.from('stray')),
      begin(1),
      encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(Object.entries({ ...PARAMS, PATH_INFO: '/' }))),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
      encodeRecord(RecordType.FCGI_STDIN, 1),
    ]));
    expect(result.records.filter((r) => r.type === RecordType.FCGI_END_REQUEST)).toHaveLength(1);
  });

  it('survives a content length beyond the data and a lying padding length', async () => {
    const before = logs.length;
    await send(Buffer.concat([header(1, RecordType.FCGI_STDIN, 1, 65535, 0), Buffer.from('only a little')]));
    expect(logs.slice(before).join('')).toContain('ended inside a record');
    await send(Buffer.concat([header(1, RecordType.FCGI_GET_VALUES, 0, 0, 255), begin(1)]));
    await stillServes();
  });

  it('bounds 10,000 BEGIN_REQUESTs that never finish: the excess is refused with FCGI_OVERLOADED', async () => {
    const parts: Uint8Array[] = [];
    for (let id = 1; id <= 10_000; id++) parts.push(begin(id));
    const result = await send(Buffer.concat(parts));
    const ends = result.records.filter((r) => r.type === RecordType.FCGI_END_REQUEST);
    expect(ends).toHaveLength(10_000 - 100);
    expect(ends.every((r) => decodeEndRequestBody(r.content).protocolStatus === ProtocolStatus.FCGI_OVERLOADED)).toBe(true);
    await stillServes();
  });

  it('keeps serving others while one client never reads its 32 MiB response', async () => {
    const stuck = connect(address);
    stuck.on('error', () => {});
    await new Promise((resolve) => stuck.once('connect', resolve));
    stuck.pause(); // never read
    stuck.write(Buffer.concat([
      begin(1),
      encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(Object.entries(PARAMS))),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
      encodeRecord(RecordType.FCGI_STDIN, 1),
    ]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const heap = process.memoryUsage().heapUsed;
    await stillServes();
    await stillServes();
    // The stuck response is not buffered whole: the app was paused at the socket's high-water mark.
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(16 * 1024 * 1024);
    stuck.destroy();
  });

  it.each([
    ['8-byte records of an unknown type (each answered with FCGI_UNKNOWN_TYPE, spec §4.2)', encodeRecord(200, 0), false],
    ['FCGI_GET_VALUES (each answered with FCGI_GET_VALUES_RESULT, spec §4.1)', encodeRecord(RecordType.FCGI_GET_VALUES, 0, encodeParams([['FCGI_MAX_CONNS', '']])), false],
    ['BEGIN_REQUESTs beyond the limit (each refused with FCGI_OVERLOADED)', begin(101), true],
  ])('closes a connection that sends %s and reads nothing, before the replies pile up', async (_name, record, fillFirst) => {
    const before = logs.length;
    const flood = connect(address);
    flood.on('error', () => {});
    let closed = false;
    flood.once('close', () => (closed = true));
    await new Promise((resolve) => flood.once('connect', resolve));
    flood.pause(); // never read
    if (fillFirst) {
      // Fill the connection's 100 live requests first: every further BEGIN_REQUEST is then refused.
      const first: Uint8Array[] = [];
      for (let id = 1; id <= 100; id++) first.push(begin(id));
      flood.write(Buffer.concat(first));
    }
    const block = Buffer.concat(Array.from({ length: Math.floor(65536 / record.length) }, () => record));
    // 32 MiB of records would be 32 to 64 MiB of replies held for a peer that never takes them.
    for (let sent = 0; sent < 32 * 1024 * 1024 && !closed; sent += block.length) {
      if (!flood.write(block)) await new Promise((resolve) => flood.once('drain', resolve).once('close', resolve));
    }
    for (let waited = 0; !closed && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(true);
    expect(logs.slice(before).filter((l) => l.includes('reads none of the replies'))).toHaveLength(1);
    flood.destroy();
    await stillServes();
  });

  it('never throws out of a socket handler on random bytes, and answers a fresh connection after', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), async (bytes) => {
        const socket = connect(address);
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.end(bytes);
        await new Promise((resolve) => socket.once('close', resolve));
      }),
      { numRuns: 60 },
    );
    await stillServes();
  });
});
