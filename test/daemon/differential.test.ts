// Differential test from the web-server side: one node:http handler behind tsgi (fromNodeHttp) and node-fastcgi 2.0.0.
//
// The same handler function object runs in both daemons, the same FastCGI bytes go to both, and what
// comes back is compared after dropping framework noise (Date, Connection, Keep-Alive,
// Transfer-Encoding). `it('agrees: ...')` cases expect equal results, plus a sanity check so that
// two wrong answers cannot agree silently. `it('differs: ...')` cases assert tsgi's behaviour and
// pin node-fastcgi's; docs/differential.md gives the reason for each.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { connect, type Server as NetServer, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { environOf, fromNodeHttp } from '../../src/adapters/node-http.js';
import { parseCgiHead } from '../../src/core/cgi-response.js';
import type { BodyInput } from '../../src/core/input.js';
import { FastCgiServer } from '../../src/daemon/server.js';
import { FastCgiClient, type FastCgiRequestOptions } from '../../src/fastcgi/client.js';
import { FCGI_KEEP_CONN, ProtocolStatus, RecordType, Role } from '../../src/fastcgi/constants.js';
import { decodeParams, encodeParams } from '../../src/fastcgi/params.js';
import { decodeEndRequestBody, encodeBeginRequestBody, encodeRecord } from '../../src/fastcgi/record.js';

// ---------------------------------------------------------------------------------------------
// The peer. node-fastcgi ships no type declarations: this is the part of its API the test uses.

type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;
interface NodeFastCgi {
  /** `createServer(responder)`: a net.Server whose 'request' listener gets node:http-like req/res. */
  createServer(responder: NodeListener): NetServer;
}
const require = createRequire(import.meta.url);
const nodeFastcgi = require('node-fastcgi') as NodeFastCgi;
const NODE_FASTCGI_PATH = require.resolve('node-fastcgi');
/** The pinned peer: some cases name its source lines and private fields, so a new version must be re-read. */
const NODE_FASTCGI_VERSION = (require('node-fastcgi/package.json') as { version: string }).version;

type Address = { host: string; port: number };
type PeerName = 'tsgi' | 'node-fastcgi';
const HOST = '127.0.0.1';
const WAIT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// The one handler both daemons run.

/** Requests parked by `/hold`, for the test to inspect and then answer. */
const held: Array<{ req: IncomingMessage; res: ServerResponse }> = [];
/** Paths whose handler ran, and those whose request then saw 'aborted' (the web server gave up on it). */
const started: string[] = [];
const aborted: string[] = [];
/** Bytes `/flood` managed to hand to `res.write()`, and whether it ever saw `write() === false`. */
const flood = { written: 0, sawFalse: false, done: false };

const BIG_RESPONSE_BYTES = 200_000;
const FLOOD_BYTES = 32 * 1024 * 1024;

function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7) & 0xff;
  return bytes;
}

/**
 * Writes to FCGI_STDERR. The one host-specific line: tsgi gives `tsgi.errors` through `environOf`,
 * node-fastcgi hangs its stderr stream on the response as `res.stderr`.
 */
function logToStderr(req: IncomingMessage, res: ServerResponse, text: string): void {
  const environ = environOf(req);
  if (environ !== undefined) environ['tsgi.errors'].write(text);
  else (res as ServerResponse & { stderr?: Writable }).stderr?.write(text);
}

function floodResponse(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(FLOOD_BYTES) });
  const chunk = Buffer.alloc(64 * 1024, 0x66);
  const next = (): void => {
    while (flood.written < FLOOD_BYTES) {
      flood.written += chunk.length;
      if (!res.write(chunk)) {
        flood.sawFalse = true;
        res.once('drain', next);
        return;
      }
    }
    flood.done = true;
    res.end();
  };
  next();
}

const handler: NodeListener = (req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  started.push(path);
  req.on('aborted', () => aborted.push(path));
  req.on('error', () => {}); // a request cut off by the web server; recorded through 'aborted'
  switch (path) {
    case '/hello':
      res.setHeader('Content-Type', 'text/plain');
      res.end('hello world');
      return;
    case '/cookies':
      res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
      res.setHeader('Content-Type', 'text/plain');
      res.end('two cookies');
      return;
    case '/reason':
      res.writeHead(418, "I'm a little teapot", { 'Content-Type': 'text/plain' });
      res.end('short and stout');
      return;
    case '/no-content':
      res.writeHead(204, { 'X-Kind': 'none' });
      res.end();
      return;
    case '/empty':
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end();
      return;
    case '/big': {
      // No Content-Length: each daemon frames the body itself; three writes, one of 100 KiB.
      const body = pattern(BIG_RESPONSE_BYTES);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.write(body.subarray(0, 1000));
      res.write(body.subarray(1000, 1000 + 100 * 1024));
      res.end(body.subarray(1000 + 100 * 1024));
      return;
    }
    case '/stderr':
      logToStderr(req, res, 'warning: something to log\n');
      res.setHeader('Content-Type', 'text/plain');
      res.end('logged');
      return;
    case '/hold':
      held.push({ req, res });
      return;
    case '/throw':
      // Only ever sent to tsgi in-process: in node-fastcgi this exception ends the process.
      throw new Error('the handler failed');
    case '/continue':
      // Only ever sent to tsgi in-process: node-fastcgi's writeContinue throws (see nodeFastcgiChild).
      res.writeContinue();
      res.setHeader('Content-Type', 'text/plain');
      res.end('continued');
      return;
    case '/flood':
      floodResponse(res);
      return;
  }
  // /echo and /body read the whole body first.
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (path === '/body') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
      res.end(body);
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).sort(([a], [b]) => a.localeCompare(b)));
    const echo = {
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      bodyBytes: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
    };
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(echo));
  });
};

// ---------------------------------------------------------------------------------------------
// The two daemons, on 127.0.0.1 only.

const peers = {} as Record<PeerName, Address>;
let tsgi: FastCgiServer;
let nfcgi: NetServer;
const nfcgiSockets = new Set<Socket>();
const tsgiLog: string[] = [];

beforeAll(async () => {
  tsgi = new FastCgiServer({ app: fromNodeHttp(handler), log: (line) => tsgiLog.push(line) });
  const bound = await tsgi.listen({ kind: 'tcp', host: HOST, port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a tcp address');
  peers.tsgi = { host: bound.host, port: bound.port };

  nfcgi = nodeFastcgi.createServer(handler);
  nfcgi.on('connection', (socket: Socket) => {
    nfcgiSockets.add(socket);
    socket.once('close', () => nfcgiSockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    nfcgi.once('error', reject);
    nfcgi.listen(0, HOST, () => resolve());
  });
  const address = nfcgi.address();
  if (address === null || typeof address === 'string') throw new Error('expected a tcp address');
  peers['node-fastcgi'] = { host: HOST, port: address.port };
});

afterAll(async () => {
  tsgi.destroy();
  for (const socket of nfcgiSockets) socket.destroy();
  await new Promise<void>((resolve) => nfcgi.close(() => resolve()));
});

afterEach(() => {
  for (const { res } of held.splice(0)) if (!res.writableEnded) res.destroy();
  started.length = 0;
  aborted.length = 0;
  tsgiLog.length = 0;
  Object.assign(flood, { written: 0, sawFalse: false, done: false });
});

// ---------------------------------------------------------------------------------------------
// Helpers: bounded waits, requests through FastCgiClient, raw records.

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(predicate: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  for (let waited = 0; !predicate(); waited += 10) {
    if (waited > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** CGI meta-variables as nginx's fastcgi_params sends them, minus the empty CONTENT_* (see below). */
function cgiParams(method: string, path: string, query = '', extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'differential-test',
    REQUEST_METHOD: method,
    SCRIPT_NAME: '',
    PATH_INFO: path,
    QUERY_STRING: query,
    REQUEST_URI: query === '' ? path : `${path}?${query}`,
    SERVER_NAME: 'localhost',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '192.0.2.7',
    REMOTE_PORT: '51515',
    HTTP_HOST: 'localhost',
    ...extra,
  };
}

/** Headers that each daemon adds or drops for its own framing and connection: not compared. */
const NOISE = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

interface Outcome {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: { length: number; sha256: string; text?: string };
  stderr: string;
  appStatus: number;
  protocolStatus: number;
}

function digest(bytes: Buffer): Outcome['body'] {
  return {
    length: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    ...(bytes.length <= 4096 ? { text: bytes.toString('utf8') } : {}),
  };
}

async function exchange(address: Address, request: FastCgiRequestOptions): Promise<Outcome> {
  const client = await FastCgiClient.connect(address);
  try {
    const res = await within(client.request(request), 'the response head');
    const parts: Buffer[] = [];
    await within(
      (async () => {
        for await (const chunk of res.body) parts.push(Buffer.from(chunk));
      })(),
      'the response body',
    );
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers.filter(([name]) => !NOISE.has(name.toLowerCase())).map(([name, value]) => [name.toLowerCase(), value]),
      body: digest(Buffer.concat(parts)),
      stderr: res.stderr,
      appStatus: await res.appStatus,
      protocolStatus: await res.protocolStatus,
    };
  } finally {
    client.close();
  }
}

async function both(request: FastCgiRequestOptions): Promise<Record<PeerName, Outcome>> {
  return { tsgi: await exchange(peers.tsgi, request), 'node-fastcgi': await exchange(peers['node-fastcgi'], request) };
}

interface RawRecord {
  type: number;
  id: number;
  contentLength: number;
  paddingLength: number;
  content: Buffer;
}

/** Splits a byte stream into records, keeping each header's padding length (test-local, no checks). */
function scanRecords(bytes: Buffer): RawRecord[] {
  const records: RawRecord[] = [];
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const contentLength = bytes.readUInt16BE(offset + 4);
    const paddingLength = bytes[offset + 6] ?? 0;
    if (offset + 8 + contentLength + paddingLength > bytes.length) break;
    records.push({
      type: bytes[offset + 1] ?? 0,
      id: bytes.readUInt16BE(offset + 2),
      contentLength,
      paddingLength,
      content: bytes.subarray(offset + 8, offset + 8 + contentLength),
    });
    offset += 8 + contentLength + paddingLength;
  }
  return records;
}

interface RawResult {
  records: RawRecord[];
  /** True when the daemon closed the connection (FIN or reset) before we gave up waiting. */
  closedByServer: boolean;
}

interface RawOptions {
  /** Stop waiting once this holds (then wait `closeGraceMs` for a close). */
  done?: (records: RawRecord[]) => boolean;
  /** Runs after `bytes` are written, to send more later or to close our side (`end`). */
  then?: (write: (bytes: Uint8Array | Uint8Array[]) => void, end: () => void) => Promise<void>;
  /** How long to wait for a close once `done` holds. Default 300 ms. */
  closeGraceMs?: number;
  /** How long to wait when `done` never holds. Default 1000 ms. */
  quietMs?: number;
}

/**
 * Writes `bytes` on a fresh connection, then collects records until the daemon closes it or, once
 * `done(records)` holds (or `quietMs` passed with it never holding), `closeGraceMs` more.
 */
async function raw(address: Address, bytes: Uint8Array | Uint8Array[], options: RawOptions = {}): Promise<RawResult> {
  const socket = connect(address);
  const received: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => {});
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  await within(new Promise((resolve) => socket.once('connect', resolve)), 'connect');
  const write = (more: Uint8Array | Uint8Array[]): void => {
    if (!socket.destroyed) socket.write(Array.isArray(more) ? Buffer.concat(more) : more);
  };
  write(bytes);
  await options.then?.(write, () => socket.end());
  const records = (): RawRecord[] => scanRecords(Buffer.concat(received));
  const done = options.done ?? (() => false);
  const quiet = sleep(options.quietMs ?? 1000);
  let quietOver = false;
  void quiet.then(() => (quietOver = true));
  await Promise.race([closedPromise, until(() => quietOver || done(records()), 'records', WAIT_MS)]);
  if (!closed) await Promise.race([closedPromise, sleep(options.closeGraceMs ?? 300)]);
  const closedByServer = closed;
  socket.destroy();
  return { records: records(), closedByServer };
}

const begin = (id: number, flags = 0, role: number = Role.FCGI_RESPONDER): Uint8Array =>
  encodeRecord(RecordType.FCGI_BEGIN_REQUEST, id, encodeBeginRequestBody(role, flags));
const paramsRecords = (id: number, params: Record<string, string>): Uint8Array[] => [
  encodeRecord(RecordType.FCGI_PARAMS, id, encodeParams(Object.entries(params))),
  encodeRecord(RecordType.FCGI_PARAMS, id),
];
const stdinEnd = (id: number): Uint8Array => encodeRecord(RecordType.FCGI_STDIN, id);
const request = (id: number, params: Record<string, string>, flags = 0): Uint8Array[] => [
  begin(id, flags),
  ...paramsRecords(id, params),
  stdinEnd(id),
];

/** The STDOUT of request `id`, parsed as a CGI response. */
function responseOf(records: RawRecord[], id: number): { status: number; headers: Array<[string, string]>; body: Buffer } | undefined {
  const stdout = Buffer.concat(records.filter((r) => r.type === RecordType.FCGI_STDOUT && r.id === id).map((r) => r.content));
  const head = parseCgiHead(stdout);
  if (head === null) return undefined;
  return { status: head.status, headers: head.headers, body: stdout.subarray(head.headerBytes) };
}
const endsOf = (records: RawRecord[], id: number) =>
  records.filter((r) => r.type === RecordType.FCGI_END_REQUEST && r.id === id).map((r) => decodeEndRequestBody(r.content));
const endedFor = (id: number) => (records: RawRecord[]) => endsOf(records, id).length > 0;

// ---------------------------------------------------------------------------------------------
// The table: the same request through both, compared after normalisation.

const BINARY_BODY = randomBytes(1024 * 1024);

interface Case {
  name: string;
  request: FastCgiRequestOptions;
  check: (outcome: Outcome) => void;
}

const cases: Case[] = [
  {
    name: 'GET with a query string and a custom header',
    request: { params: cgiParams('GET', '/echo', 'a=1&b=two%20words', { HTTP_X_CUSTOM: 'yes', HTTP_COOKIE: 'k=v' }) },
    check: (o) => {
      const echo = JSON.parse(o.body.text ?? '') as Record<string, unknown>;
      expect(echo).toMatchObject({
        method: 'GET',
        url: '/echo?a=1&b=two%20words',
        httpVersion: '1.1',
        headers: { host: 'localhost', 'x-custom': 'yes', cookie: 'k=v' },
        remoteAddress: '192.0.2.7',
        remotePort: 51515,
        bodyBytes: 0,
      });
    },
  },
  {
    name: 'POST of a 1 MiB binary body, echoed back',
    request: {
      params: cgiParams('POST', '/body', '', {
        CONTENT_TYPE: 'application/octet-stream',
        CONTENT_LENGTH: String(BINARY_BODY.length),
      }),
      body: BINARY_BODY,
    },
    check: (o) => {
      expect(o.status).toBe(200);
      expect(o.body).toEqual(digest(BINARY_BODY));
      expect(o.headers).toContainEqual(['content-length', String(BINARY_BODY.length)]);
    },
  },
  {
    name: 'POST with an empty body (CONTENT_LENGTH 0)',
    request: { params: cgiParams('POST', '/echo', '', { CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '0' }), body: new Uint8Array(0) },
    check: (o) => {
      const echo = JSON.parse(o.body.text ?? '') as { bodyBytes: number; headers: Record<string, string> };
      expect(echo.bodyBytes).toBe(0);
      expect(echo.headers['content-length']).toBe('0');
    },
  },
  {
    name: 'a response with an empty body',
    request: { params: cgiParams('GET', '/empty') },
    check: (o) => {
      expect(o.status).toBe(200);
      expect(o.body.length).toBe(0);
      // res.end() after writeHead(): node:http sends no Content-Length, in both.
      expect(o.headers).toEqual([['content-type', 'text/plain']]);
    },
  },
  {
    name: 'two Set-Cookie fields, kept apart and in order',
    request: { params: cgiParams('GET', '/cookies') },
    check: (o) => {
      expect(o.headers.filter(([name]) => name === 'set-cookie')).toEqual([
        ['set-cookie', 'a=1; Path=/'],
        ['set-cookie', 'b=2; HttpOnly'],
      ]);
    },
  },
  {
    name: 'a custom reason phrase',
    request: { params: cgiParams('GET', '/reason') },
    check: (o) => {
      expect([o.status, o.statusText, o.body.text]).toEqual([418, "I'm a little teapot", 'short and stout']);
    },
  },
  {
    name: '204 No Content: no body, no Content-Length',
    request: { params: cgiParams('GET', '/no-content') },
    check: (o) => {
      expect([o.status, o.statusText, o.body.length]).toEqual([204, 'No Content', 0]);
      expect(o.headers).toEqual([['x-kind', 'none']]);
    },
  },
  {
    name: 'HEAD: the GET headers, no body',
    request: { params: cgiParams('HEAD', '/hello') },
    check: (o) => {
      expect(o.status).toBe(200);
      expect(o.body.length).toBe(0);
      // node:http computes no Content-Length for a HEAD response's discarded body, in both.
      expect(o.headers).toEqual([['content-type', 'text/plain']]);
    },
  },
  {
    name: `a ${BIG_RESPONSE_BYTES}-byte response without Content-Length (several records)`,
    request: { params: cgiParams('GET', '/big') },
    check: (o) => {
      expect(o.body).toEqual(digest(pattern(BIG_RESPONSE_BYTES)));
      expect(o.headers).toEqual([['content-type', 'application/octet-stream']]);
    },
  },
  {
    name: 'an HTTP/1.0 request',
    request: { params: cgiParams('GET', '/echo', 'v=1.0', { SERVER_PROTOCOL: 'HTTP/1.0' }) },
    check: (o) => {
      expect(JSON.parse(o.body.text ?? '')).toMatchObject({ httpVersion: '1.0', url: '/echo?v=1.0' });
    },
  },
  {
    name: 'an HTTP/1.0 request answered without Content-Length (close-delimited in node:http)',
    request: { params: cgiParams('GET', '/big', '', { SERVER_PROTOCOL: 'HTTP/1.0' }) },
    check: (o) => {
      expect(o.body).toEqual(digest(pattern(BIG_RESPONSE_BYTES)));
    },
  },
  {
    name: 'text written to FCGI_STDERR',
    request: { params: cgiParams('GET', '/stderr') },
    check: (o) => {
      expect(o.stderr).toBe('warning: something to log\n');
      expect(o.body.text).toBe('logged');
    },
  },
];

describe('differential: the same requests through tsgi and node-fastcgi', () => {
  it('compares against node-fastcgi 2.0.0, the version docs/differential.md was written from', () => {
    expect(NODE_FASTCGI_VERSION).toBe('2.0.0');
  });

  it.each(cases)('agrees: $name', async ({ request, check }) => {
    const outcome = await both(request);
    check(outcome.tsgi);
    expect(outcome.tsgi).toEqual(outcome['node-fastcgi']);
    expect(outcome.tsgi.appStatus).toBe(0);
    expect(outcome.tsgi.protocolStatus).toBe(ProtocolStatus.FCGI_REQUEST_COMPLETE);
  });

  it('agrees: without FCGI_KEEP_CONN the daemon closes the connection after FCGI_END_REQUEST (spec §5.1)', async () => {
    for (const peer of Object.values(peers)) {
      const client = await FastCgiClient.connect(peer);
      const res = await within(client.request({ params: cgiParams('GET', '/hello'), keepConn: false }), 'the head');
      for await (const chunk of res.body) void chunk;
      await within(client.closed, 'the daemon to close the connection');
    }
  });

  it('agrees: the web server closing the connection mid-request aborts it: the handler sees \'aborted\' (spec §3.5)', async () => {
    const params = cgiParams('POST', '/echo', '', { CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '10' });
    const bytes = [begin(1), ...paramsRecords(1, params), encodeRecord(RecordType.FCGI_STDIN, 1, Buffer.from('abc'))];
    for (const peer of Object.values(peers)) {
      started.length = 0;
      aborted.length = 0;
      const result = await raw(peer, bytes, {
        then: async (_write, end) => {
          await until(() => started.includes('/echo'), 'the handler to start');
          end();
        },
        quietMs: 0,
      });
      await until(() => aborted.includes('/echo'), "'aborted' at the handler");
      expect(result.records.filter((r) => r.type === RecordType.FCGI_STDOUT && r.contentLength > 0)).toEqual([]);
    }
  });

  it('agrees: end of stream after a complete request (a half-close) aborts a request still running (spec §3.5)', async () => {
    for (const peer of Object.values(peers)) {
      held.length = 0;
      aborted.length = 0;
      const result = await raw(peer, request(1, cgiParams('GET', '/hold')), {
        then: async (_write, end) => {
          end();
          await until(() => held.length === 1, 'the handler to start');
          await until(() => aborted.includes('/hold'), "'aborted' at the handler");
          held[0]?.res.end('too late');
        },
        quietMs: 0,
      });
      expect(result.records).toEqual([]);
      expect(result.closedByServer).toBe(true);
    }
  });

  it('agrees: a response over 65535 bytes is split into STDOUT records of at most 65535 bytes (spec §3.3)', async () => {
    for (const peer of Object.values(peers)) {
      const { records } = await raw(peer, request(1, cgiParams('GET', '/big')), { done: endedFor(1) });
      const stdout = records.filter((r) => r.type === RecordType.FCGI_STDOUT && r.id === 1);
      expect(stdout.length).toBeGreaterThan(3);
      expect(Math.max(...stdout.map((r) => r.contentLength))).toBeLessThanOrEqual(65535);
      expect(stdout.at(-1)?.contentLength).toBe(0); // the stream is closed before END_REQUEST
      expect(responseOf(records, 1)?.body.equals(pattern(BIG_RESPONSE_BYTES))).toBe(true);
      expect(endsOf(records, 1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE }]);
    }
  });

  it('agrees: FCGI_GET_VALUES answers the three spec names and omits unknown ones (spec §4.1); values are each daemon\'s configuration', async () => {
    const answers: Record<string, Record<string, string>> = {};
    for (const [name, peer] of Object.entries(peers)) {
      const client = await FastCgiClient.connect(peer);
      answers[name] = await within(
        client.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'NOT_A_VALUE']),
        'FCGI_GET_VALUES_RESULT',
      );
      client.close();
    }
    // tsgi: --max-conns (1024, enforced on accept) and 1024 × 100 requests per connection.
    expect(answers.tsgi).toEqual({ FCGI_MAX_CONNS: '1024', FCGI_MAX_REQS: '102400', FCGI_MPXS_CONNS: '1' });
    // node-fastcgi: its config defaults, which it advertises but never enforces (lib/server.js).
    expect(answers['node-fastcgi']).toEqual({ FCGI_MAX_CONNS: '2000', FCGI_MAX_REQS: '2000', FCGI_MPXS_CONNS: '1' });
    expect(Object.keys(answers.tsgi ?? {}).sort()).toEqual(Object.keys(answers['node-fastcgi'] ?? {}).sort());
  });

  it('agrees: the response waits for the web server to read it (backpressure reaches res.write())', async () => {
    for (const peer of Object.values(peers)) {
      Object.assign(flood, { written: 0, sawFalse: false, done: false });
      const client = await FastCgiClient.connect(peer);
      const res = await within(client.request({ params: cgiParams('GET', '/flood') }), 'the head');
      await sleep(300); // not reading: the client pauses its socket, the kernel buffers fill
      const stalledAt = flood.written;
      await sleep(100);
      expect(flood.written).toBe(stalledAt); // no progress while nobody reads
      expect(flood.sawFalse).toBe(true);
      expect(flood.done).toBe(false);
      expect(flood.written).toBeLessThan(FLOOD_BYTES);
      let total = 0;
      await within(
        (async () => {
          for await (const chunk of res.body) total += chunk.length;
        })(),
        'the flood',
        10_000,
      );
      expect(total).toBe(FLOOD_BYTES);
      client.close();
    }
  });
});

describe('differential: where tsgi deliberately differs', () => {
  it('differs: FCGI_KEEP_CONN — tsgi serves the next request on the same connection; node-fastcgi closes it after every request', async () => {
    const client = await FastCgiClient.connect(peers.tsgi);
    for (let i = 0; i < 3; i++) {
      const res = await within(client.request({ params: cgiParams('GET', '/hello'), keepConn: true }), 'the head');
      let text = '';
      for await (const chunk of res.body) text += Buffer.from(chunk).toString();
      expect(text).toBe('hello world');
    }
    expect(client.idle).toBe(true);
    client.close();

    // node-fastcgi tests `flags & BeginRequest.flags.KEEP_CONN`, but fastcgi-stream names the flag
    // KEEPCONN: the mask is undefined, so every request counts as "close after".
    const peer = await FastCgiClient.connect(peers['node-fastcgi']);
    const res = await within(peer.request({ params: cgiParams('GET', '/hello'), keepConn: true }), 'the head');
    for await (const chunk of res.body) void chunk;
    await within(peer.closed, 'node-fastcgi to close a FCGI_KEEP_CONN connection');
  });

  it('differs: multiplexing — both advertise FCGI_MPXS_CONNS=1; tsgi answers two interleaved requests, node-fastcgi drops the second when the first ends', async () => {
    const bytes = [
      begin(1, FCGI_KEEP_CONN),
      begin(2, FCGI_KEEP_CONN),
      ...paramsRecords(2, cgiParams('POST', '/echo', '', { CONTENT_LENGTH: '3', CONTENT_TYPE: 'text/plain' })),
      ...paramsRecords(1, cgiParams('GET', '/hello')),
      stdinEnd(1),
      encodeRecord(RecordType.FCGI_STDIN, 2, Buffer.from('abc')),
    ];
    const options: RawOptions = {
      // Request 2's body ends 100 ms later, so request 1 surely ends first.
      then: async (write) => {
        await sleep(100);
        write(stdinEnd(2));
      },
      done: (records) => endedFor(1)(records) && endedFor(2)(records),
    };
    const results = { tsgi: await raw(peers.tsgi, bytes, options), 'node-fastcgi': await raw(peers['node-fastcgi'], bytes, options) };
    const t = results.tsgi;
    expect(responseOf(t.records, 1)?.body.toString()).toBe('hello world');
    expect(JSON.parse(responseOf(t.records, 2)?.body.toString() ?? '{}')).toMatchObject({ method: 'POST', bodyBytes: 3 });
    expect(t.closedByServer).toBe(false);

    const n = results['node-fastcgi'];
    expect(responseOf(n.records, 1)?.body.toString()).toBe('hello world');
    expect(endsOf(n.records, 2)).toEqual([]); // request 2 never ends: the connection closed under it
    expect(n.closedByServer).toBe(true);
  });

  it('differs: a PARAMS pair straddling two records (spec §3.4) — tsgi reassembles it; node-fastcgi decodes each record alone and truncates the value', async () => {
    const long = 'v'.repeat(1000);
    const pairs = encodeParams(Object.entries(cgiParams('GET', '/echo', '', { HTTP_X_LONG: long })));
    const cut = pairs.length - 400; // inside X-Long's value
    const bytes = [
      begin(1),
      encodeRecord(RecordType.FCGI_PARAMS, 1, pairs.subarray(0, cut)),
      encodeRecord(RecordType.FCGI_PARAMS, 1, pairs.subarray(cut)),
      encodeRecord(RecordType.FCGI_PARAMS, 1),
      stdinEnd(1),
    ];
    const seen: Record<string, number | undefined> = {};
    for (const [name, peer] of Object.entries(peers)) {
      const { records } = await raw(peer, bytes, { done: endedFor(1) });
      const echo = JSON.parse(responseOf(records, 1)?.body.toString() ?? '{}') as { headers?: Record<string, string> };
      seen[name] = echo.headers?.['x-long']?.length;
    }
    expect(seen.tsgi).toBe(1000);
    expect(seen['node-fastcgi']).toBe(600);
  });

  it('differs: an unknown management record type (spec §4.2) — tsgi answers FCGI_UNKNOWN_TYPE and keeps serving; node-fastcgi throws and its process exits', async () => {
    const { records, closedByServer } = await raw(peers.tsgi, [encodeRecord(42, 0, new Uint8Array(3)), ...request(1, cgiParams('GET', '/hello'))], {
      done: endedFor(1),
    });
    expect(records[0]?.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
    expect(records[0]?.content[0]).toBe(42);
    expect(responseOf(records, 1)?.body.toString()).toBe('hello world');
    expect(closedByServer).toBe(true); // after the request, which had no FCGI_KEEP_CONN

    // node-fastcgi in a child process: `new fcgiRecords[42]` throws inside the socket's 'data'
    // handler (fastcgi-stream lib/stream.js), an uncaught exception that ends the whole daemon.
    const crash = await nodeFastcgiChild(async (address) => {
      await raw(address, encodeRecord(42, 0, new Uint8Array(3)), { quietMs: 500 });
    });
    expect(crash.code).toBe(1);
    expect(crash.stderr).toContain('fcgiRecords[type] is not a constructor');
  });

  it('differs: record type 0 — tsgi answers FCGI_UNKNOWN_TYPE; node-fastcgi\'s parser treats type 0 as "no header yet" and stalls', async () => {
    const bytes = [encodeRecord(0, 0, new Uint8Array(8)), ...request(1, cgiParams('GET', '/hello'))];
    const t = await raw(peers.tsgi, bytes, { done: endedFor(1) });
    expect(t.records[0]?.type).toBe(RecordType.FCGI_UNKNOWN_TYPE);
    expect(t.records[0]?.content[0]).toBe(0);
    expect(responseOf(t.records, 1)?.body.toString()).toBe('hello world');

    const n = await raw(peers['node-fastcgi'], bytes, { quietMs: 500 });
    expect(n.records).toEqual([]);
    expect(n.closedByServer).toBe(false);
  });

  it('differs: FCGI_ABORT_REQUEST (spec §5.4) — both end the request and tell the handler; tsgi keeps the FCGI_KEEP_CONN connection, node-fastcgi closes it', async () => {
    const params = cgiParams('POST', '/echo', '', { CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '10' });
    const bytes = [begin(1, FCGI_KEEP_CONN), ...paramsRecords(1, params), encodeRecord(RecordType.FCGI_STDIN, 1, Buffer.from('abc'))];
    // The abort follows once the handler runs, as it would from a web server whose client left.
    const then = async (write: (bytes: Uint8Array) => void): Promise<void> => {
      await until(() => started.includes('/echo'), 'the handler to start');
      write(encodeRecord(RecordType.FCGI_ABORT_REQUEST, 1));
    };
    const t = await raw(peers.tsgi, bytes, { then, done: endedFor(1) });
    // appStatus 1: the app did not complete (spec §5.5 leaves the value to the application).
    expect(endsOf(t.records, 1)).toEqual([{ appStatus: 1, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE }]);
    expect(t.closedByServer).toBe(false);
    await until(() => aborted.includes('/echo'), "'aborted' at the tsgi handler");

    started.length = 0;
    aborted.length = 0;
    const n = await raw(peers['node-fastcgi'], bytes, { then, done: endedFor(1) });
    expect(endsOf(n.records, 1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE }]);
    expect(n.closedByServer).toBe(true);
    await until(() => aborted.includes('/echo'), "'aborted' at the node-fastcgi handler");
  });

  it('differs: padding — tsgi pads every record to a multiple of 8 (spec §3.3 recommends it); node-fastcgi pads contentLength % 8', async () => {
    for (const [name, peer] of Object.entries(peers)) {
      const { records } = await raw(peer, request(1, cgiParams('GET', '/big')), { done: endedFor(1) });
      expect(records.length).toBeGreaterThan(3);
      for (const record of records) {
        if (name === 'tsgi') expect((record.contentLength + record.paddingLength) % 8).toBe(0);
        else expect(record.paddingLength).toBe(record.contentLength % 8);
      }
    }
  });

  it('differs: FCGI_STDERR is closed with an empty record before FCGI_END_REQUEST by tsgi (spec appendix B); node-fastcgi leaves it open', async () => {
    const shape: Record<string, string[]> = {};
    for (const [name, peer] of Object.entries(peers)) {
      const { records } = await raw(peer, request(1, cgiParams('GET', '/stderr')), { done: endedFor(1) });
      shape[name] = records
        .filter((r) => r.type === RecordType.FCGI_STDERR || r.type === RecordType.FCGI_END_REQUEST)
        .map((r) => (r.type === RecordType.FCGI_END_REQUEST ? 'END_REQUEST' : r.contentLength === 0 ? 'STDERR end' : 'STDERR'));
    }
    expect(shape.tsgi).toEqual(['STDERR', 'STDERR end', 'END_REQUEST']);
    expect(shape['node-fastcgi']).toEqual(['STDERR', 'END_REQUEST']);
  });

  it('differs: an unread request body — tsgi holds at most its memory window and spools the rest; node-fastcgi holds it all in memory', async () => {
    const size = 8 * 1024 * 1024;
    const body = randomBytes(size);
    const params = cgiParams('POST', '/hold', '', { CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(size) });

    const client = await FastCgiClient.connect(peers.tsgi);
    const pending = client.request({ params, body });
    await until(() => held.length === 1, 'the tsgi handler');
    const input = environOf((held[0] as { req: IncomingMessage }).req)?.['tsgi.input'] as BodyInput;
    await until(() => input.complete, 'the whole body at tsgi');
    expect(input.bytesReceived).toBe(size);
    expect(input.memoryBytes).toBeLessThanOrEqual(256 * 1024); // the default --body-memory-bytes
    held[0]?.res.end('done');
    const res = await within(pending, 'the head');
    for await (const chunk of res.body) void chunk;
    client.close();

    held.length = 0;
    const peer = await FastCgiClient.connect(peers['node-fastcgi']);
    const pendingPeer = peer.request({ params, body });
    await until(() => held.length === 1, 'the node-fastcgi handler');
    // node-fastcgi's Request (req.socket) queues STDIN it cannot push in a private array, `_buffer`
    // (lib/streams.js); nothing pauses the socket, so the whole body ends up there.
    const request = (held[0] as { req: IncomingMessage }).req.socket as unknown as {
      _stdinComplete: boolean;
      _buffer: Array<Buffer | null>;
      readableLength: number;
    };
    await until(() => request._stdinComplete, 'the whole body at node-fastcgi');
    const inMemory = request._buffer.reduce((sum, chunk) => sum + (chunk?.length ?? 0), 0) + request.readableLength;
    expect(inMemory).toBe(size);
    held[0]?.res.end('done');
    const resPeer = await within(pendingPeer, 'the head');
    for await (const chunk of resPeer.body) void chunk;
    peer.close();
  });

  it('differs: nginx\'s empty CONTENT_TYPE and CONTENT_LENGTH on a GET — tsgi drops them; node-fastcgi makes empty request headers of them', async () => {
    const params = cgiParams('GET', '/echo', '', { CONTENT_TYPE: '', CONTENT_LENGTH: '' });
    const outcome = await both({ params });
    const headersOf = (o: Outcome) => (JSON.parse(o.body.text ?? '{}') as { headers: Record<string, string> }).headers;
    expect(headersOf(outcome.tsgi)).not.toHaveProperty('content-type');
    expect(headersOf(outcome.tsgi)).not.toHaveProperty('content-length');
    expect(headersOf(outcome['node-fastcgi'])).toMatchObject({ 'content-type': '', 'content-length': '' });
  });

  it('differs: req.url under a mount point — tsgi gives the path below SCRIPT_NAME (req.originalUrl has it all); node-fastcgi gives REQUEST_URI', async () => {
    const params = { ...cgiParams('GET', '/echo', 'q=1'), SCRIPT_NAME: '/app', REQUEST_URI: '/app/echo?q=1' };
    const outcome = await both({ params });
    const urlOf = (o: Outcome) => (JSON.parse(o.body.text ?? '{}') as { url: string }).url;
    expect(urlOf(outcome.tsgi)).toBe('/echo?q=1');
    expect(urlOf(outcome['node-fastcgi'])).toBe('/app/echo?q=1');
  });

  it('differs: a UTF-8 request header value — tsgi hands node:http the bytes, which it reads as Latin-1 as on TCP; node-fastcgi gives the UTF-8 string', async () => {
    const outcome = await both({ params: cgiParams('GET', '/echo', '', { HTTP_X_NAME: 'café' }) });
    const headersOf = (o: Outcome) => (JSON.parse(o.body.text ?? '{}') as { headers: Record<string, string> }).headers;
    expect(headersOf(outcome.tsgi)['x-name']).toBe(Buffer.from('café', 'utf8').toString('latin1')); // 'cafÃ©'
    expect(headersOf(outcome['node-fastcgi'])['x-name']).toBe('café');
  });

  it('differs: hop-by-hop and Expect request headers — tsgi leaves them out (the front server owns the connection); node-fastcgi passes them on', async () => {
    const extra = { HTTP_CONNECTION: 'keep-alive', HTTP_KEEP_ALIVE: 'timeout=5', HTTP_TE: 'trailers', HTTP_EXPECT: '100-continue' };
    const outcome = await both({ params: cgiParams('GET', '/echo', '', extra) });
    const headersOf = (o: Outcome) => (JSON.parse(o.body.text ?? '{}') as { headers: Record<string, string> }).headers;
    expect(headersOf(outcome.tsgi)).toEqual({ host: 'localhost' });
    expect(headersOf(outcome['node-fastcgi'])).toEqual({
      host: 'localhost',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      expect: '100-continue',
    });
  });

  it('differs: res.writeContinue() — tsgi drops the interim 100 (the front server answers Expect) and sends the final response; node-fastcgi throws and its process exits', async () => {
    const outcome = await exchange(peers.tsgi, { params: cgiParams('GET', '/continue') });
    expect([outcome.status, outcome.body.text, outcome.appStatus]).toEqual([200, 'continued', 0]);

    // lib/response.js: `this._writeRaw('Status: 100 Continue' + CRLF + CRLF, ...)` with CRLF undefined.
    const crash = await nodeFastcgiChild(async (address) => {
      await raw(address, request(1, cgiParams('GET', '/continue')), { quietMs: 500 });
    }, "(req, res) => { res.writeContinue(); res.end('continued'); }");
    expect(crash.code).toBe(1);
    expect(crash.stderr).toContain('ReferenceError: CRLF is not defined');
  });

  it('differs: a handler that throws — tsgi answers a generic 500 and logs it (one error policy, in the driver); node-fastcgi lets the exception end its process', async () => {
    const outcome = await exchange(peers.tsgi, { params: cgiParams('GET', '/throw') });
    expect([outcome.status, outcome.appStatus]).toEqual([500, 1]);
    expect(outcome.body.text).not.toContain('the handler failed'); // no internals to the client
    expect(outcome.stderr).toContain('the handler failed'); // but the web server's log has them
    expect(tsgiLog.join('')).toContain('the handler failed');

    // The 'request' event is emitted from the socket's 'data' handler: nothing catches in between.
    const crash = await nodeFastcgiChild(async (address) => {
      await raw(address, request(1, cgiParams('GET', '/throw')), { quietMs: 500 });
    }, "() => { throw new Error('the handler failed'); }");
    expect(crash.code).toBe(1);
    expect(crash.stderr).toContain('Error: the handler failed');
  });

  it('differs: an unknown role — both refuse with FCGI_UNKNOWN_ROLE (spec §5.5); appStatus is 0 from tsgi, 1 from node-fastcgi', async () => {
    const ends: Record<string, unknown> = {};
    for (const [name, peer] of Object.entries(peers)) {
      const { records } = await raw(peer, begin(1, FCGI_KEEP_CONN, 9), { done: endedFor(1) });
      ends[name] = endsOf(records, 1);
    }
    expect(ends.tsgi).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.FCGI_UNKNOWN_ROLE }]);
    expect(ends['node-fastcgi']).toEqual([{ appStatus: 1, protocolStatus: ProtocolStatus.FCGI_UNKNOWN_ROLE }]);
  });

  it('differs: the AUTHORIZER role (spec §6.3) — tsgi runs the app; node-fastcgi refuses it unless an authorizer callback was given', async () => {
    const bytes = [begin(1, 0, Role.FCGI_AUTHORIZER), ...paramsRecords(1, cgiParams('GET', '/hello'))];
    const t = await raw(peers.tsgi, bytes, { done: endedFor(1) });
    expect(responseOf(t.records, 1)?.status).toBe(200);
    expect(endsOf(t.records, 1)).toEqual([{ appStatus: 0, protocolStatus: ProtocolStatus.FCGI_REQUEST_COMPLETE }]);
    const n = await raw(peers['node-fastcgi'], bytes, { done: endedFor(1) });
    expect(endsOf(n.records, 1)).toEqual([{ appStatus: 1, protocolStatus: ProtocolStatus.FCGI_UNKNOWN_ROLE }]);
  });

  describe('malformed input: tsgi closes the connection (docs/fastcgi.md); node-fastcgi carries on', () => {
    const hello = cgiParams('GET', '/hello');
    const badVersion = (): Uint8Array[] => {
      const bytes = request(1, hello);
      bytes[0] = Buffer.from(bytes[0] as Uint8Array);
      (bytes[0] as Buffer)[0] = 2;
      return bytes;
    };
    const malformed: Array<[string, () => Uint8Array[]]> = [
      ['a header with version 2 (spec §3.3: FCGI_VERSION_1)', badVersion],
      ['a second BEGIN_REQUEST for a live request id (spec §3.3)', () => [begin(1), ...request(1, hello)]],
      ['a BEGIN_REQUEST with request id 0, the management id (spec §3.3)', () => request(0, hello)],
    ];
    it.each(malformed)('differs: %s', async (_name, bytes) => {
      const t = await raw(peers.tsgi, bytes(), { quietMs: 500 });
      expect(t.closedByServer).toBe(true);
      expect(t.records.filter((r) => r.type === RecordType.FCGI_STDOUT && r.contentLength > 0)).toEqual([]);
      expect(tsgiLog.filter((line) => line.startsWith('fastcgi: closing connection'))).toHaveLength(1);
      const n = await raw(peers['node-fastcgi'], bytes(), { done: (r) => r.some((x) => x.type === RecordType.FCGI_END_REQUEST) });
      const id = n.records.find((r) => r.type === RecordType.FCGI_END_REQUEST)?.id ?? -1;
      expect(responseOf(n.records, id)?.body.toString()).toBe('hello world');
    });

    it('differs: FCGI_GET_VALUES with a non-zero request id — tsgi closes the connection; node-fastcgi answers on that id', async () => {
      const bytes = encodeRecord(RecordType.FCGI_GET_VALUES, 5, encodeParams([['FCGI_MPXS_CONNS', '']]));
      const t = await raw(peers.tsgi, bytes, { quietMs: 500 });
      expect(t.closedByServer).toBe(true);
      expect(t.records).toEqual([]);
      expect(tsgiLog.filter((line) => line.startsWith('fastcgi: closing connection'))).toHaveLength(1);
      const n = await raw(peers['node-fastcgi'], bytes, { done: (r) => r.length > 0 });
      expect(n.records.map((r) => [r.type, r.id])).toEqual([[RecordType.FCGI_GET_VALUES_RESULT, 5]]);
      expect(decodeParams(n.records[0]?.content ?? new Uint8Array(0))).toEqual([['FCGI_MPXS_CONNS', '1']]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// node-fastcgi in a child process, for input that crashes it.

/**
 * Starts node-fastcgi in a child process on 127.0.0.1 with the handler `handlerSource` (JavaScript
 * source), runs `poke` against it, and resolves with its exit code and stderr once it exits (it is
 * killed if it is still running after the wait).
 */
async function nodeFastcgiChild(
  poke: (address: Address) => Promise<void>,
  handlerSource = "(req, res) => res.end('ok')",
): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const fcgi = require(${JSON.stringify(NODE_FASTCGI_PATH)});
    const server = fcgi.createServer(${handlerSource});
    server.listen(0, ${JSON.stringify(HOST)}, () => process.stdout.write('listening ' + server.address().port + '\\n'));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until(() => /listening \d+\n/.test(stdout) || child.exitCode !== null, 'the node-fastcgi child to listen');
    const port = Number(/listening (\d+)/.exec(stdout)?.[1]);
    await poke({ host: HOST, port });
    const code = await within(exited, 'the node-fastcgi child to exit');
    return { code, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}
