// One FastCGI connection in process, fed recorded nginx requests: tsgi's own CPU and allocation per request.
//
// Bundled and run by bench/connection.mjs (see there). No network, no front server, no load
// generator: what is left is the daemon's per-request JavaScript (record parsing, PARAMS decoding,
// the environ, the driver, the response records), which the end-to-end runs cannot resolve below
// ~10 % on a shared 2-core machine. The socket is an EventEmitter with the parts of net.Socket the
// connection uses; each request is one 'data' event, answered before the next is sent.

import { EventEmitter } from 'node:events';
import { fromNodeHttp, type NodeListener } from '../../src/adapters/node-http.js';
import type { App } from '../../src/core/types.js';
import { RecordType, Role, FCGI_KEEP_CONN } from '../../src/fastcgi/constants.js';
import { FastCgiConnection } from '../../src/fastcgi/connection.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { encodeBeginRequestBody, encodeRecord } from '../../src/fastcgi/record.js';

/** What nginx sends with conf/nginx/tsgi_fastcgi_params for `GET <path>` (or a POST of `length` bytes) from wrk. */
function nginxParams(path: string, length?: number): Array<[string, string]> {
  return [
    ['REQUEST_METHOD', length === undefined ? 'GET' : 'POST'], ['QUERY_STRING', ''],
    ['CONTENT_TYPE', length === undefined ? '' : 'application/octet-stream'],
    ['CONTENT_LENGTH', length === undefined ? '' : String(length)],
    ['REQUEST_URI', path], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REQUEST_SCHEME', 'http'],
    ['GATEWAY_INTERFACE', 'CGI/1.1'], ['SERVER_SOFTWARE', 'nginx/1.22.1'], ['REMOTE_ADDR', '127.0.0.1'],
    ['REMOTE_PORT', '53422'], ['SERVER_ADDR', '127.0.0.1'], ['SERVER_PORT', '41845'], ['SERVER_NAME', 'localhost'],
    ['HTTP_PROXY', ''], ['SCRIPT_NAME', ''], ['PATH_INFO', path], ['HTTP_HOST', '127.0.0.1:41845'],
  ];
}

/** BEGIN_REQUEST (keep-conn), PARAMS, the empty PARAMS and the empty STDIN, as one socket read. */
function requestBytes(path: string): Buffer {
  return Buffer.concat([
    encodeRecord(RecordType.FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(Role.FCGI_RESPONDER, FCGI_KEEP_CONN)),
    encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(nginxParams(path))),
    encodeRecord(RecordType.FCGI_PARAMS, 1),
    encodeRecord(RecordType.FCGI_STDIN, 1),
  ]);
}

/**
 * `POST /upload` of `length` bytes as nginx sends it: the body in FCGI_STDIN records of 32 KiB (its
 * fastcgi body filter's record size), cut into socket reads of 64 KiB, the size Node reads with.
 */
function uploadReads(length: number): Buffer[] {
  const records = [
    encodeRecord(RecordType.FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(Role.FCGI_RESPONDER, FCGI_KEEP_CONN)),
    encodeRecord(RecordType.FCGI_PARAMS, 1, encodeParams(nginxParams('/upload', length))),
    encodeRecord(RecordType.FCGI_PARAMS, 1),
  ];
  const body = Buffer.alloc(length, 0x62);
  for (let at = 0; at < length; at += 32 * 1024) {
    records.push(encodeRecord(RecordType.FCGI_STDIN, 1, body.subarray(at, Math.min(length, at + 32 * 1024))));
  }
  records.push(encodeRecord(RecordType.FCGI_STDIN, 1));
  const stream = Buffer.concat(records);
  const reads: Buffer[] = [];
  // Each read its own ArrayBuffer of exactly its length, as Node's socket hands them over (a view
  // into one big buffer would make tsgi copy the pieces it keeps: src/core/bytes.ts).
  for (let at = 0; at < stream.length; at += 65536) reads.push(Buffer.from(stream.subarray(at, at + 65536)));
  return reads;
}

// The bench app's cases (bench/apps/tsgi-app.mjs): two GETs, and an upload counted as it streams in.
const HELLO = Buffer.from('Hello, world!\n');
const BIG = Buffer.alloc(64 * 1024, 0x61);
const UPLOAD_BYTES = 1024 * 1024;
const app: App = (environ, startResponse) => {
  if (environ.PATH_INFO === '/upload') return countBody(environ, startResponse);
  const body = environ.PATH_INFO === '/64k' ? BIG : HELLO;
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(body.byteLength)]]);
  return [body];
};
async function countBody(...[environ, startResponse]: Parameters<App>): Promise<Uint8Array[]> {
  let length = 0;
  for await (const chunk of environ['tsgi.input']) length += chunk.byteLength;
  if (length !== UPLOAD_BYTES) throw new Error(`bench: upload counted ${length} bytes`);
  const body = Buffer.from(`${length}\n`);
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(body.byteLength)]]);
  return [body];
}

/** The net.Socket surface FastCgiConnection uses; a write completes the request in flight. */
class MemorySocket extends EventEmitter {
  writableNeedDrain = false;
  writableEnded = false;
  bytesWritten = 0;
  /** When set, every chunk written is kept here too (the final check, outside the measured rounds). */
  captured: Uint8Array[] | undefined;
  onWrite: (() => void) | undefined;
  setNoDelay(): void {}
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {}
  write(chunk: Uint8Array): boolean {
    this.bytesWritten += chunk.byteLength;
    this.captured?.push(Buffer.from(chunk));
    const done = this.onWrite;
    this.onWrite = undefined;
    done?.();
    return true;
  }
}

const [caseId = 'hello', countText = '100000', roundsText = '7', expressApp] = process.argv.slice(2);
const count = Number(countText);
const rounds = Number(roundsText);
const bytes = requestBytes(caseId === '64k' ? '/64k' : '/hello');
const uploading = caseId === 'upload' || caseId === 'express-upload';
const uploads = uploading ? uploadReads(UPLOAD_BYTES) : [];
const socket = new MemorySocket();
// "express": GET /hello from bench/apps/express-app.mjs through the node:http adapter (its path is
// the fourth argument, imported at run time so that express resolves from the repository);
// "express-upload": its POST /upload, the upload above.
const hosted: App =
  caseId.startsWith('express') ? fromNodeHttp(((await import(expressApp as string)) as { default: NodeListener }).default) : app;
new FastCgiConnection(socket as never, 1, {
  app: hosted,
  log: (line) => process.stderr.write(line),
  echoErrors: false,
  maxConns: 1,
  multiplex: false,
  maxRequestsPerConnection: 1,
  maxParamsBytes: 1 << 20,
  maxBodyBytes: 1 << 30,
  bodyMemoryBytes: 1 << 20,
  idleTimeoutMs: 0,
  requestTimeoutMs: 0,
  lingerMs: 0,
  multiprocess: false,
  scriptName: undefined,
});

function oneRequest(): Promise<void> {
  if (uploading) return oneUpload();
  return new Promise((resolve) => {
    socket.onWrite = resolve;
    // A fresh chunk with its own ArrayBuffer of exactly its length, as a socket read gives (not a
    // slice of Buffer.from's shared 8 KiB pool).
    const chunk = Buffer.allocUnsafeSlow(bytes.length);
    bytes.copy(chunk);
    socket.emit('data', chunk);
  });
}

/** One read per event-loop turn, as from a socket, so the app reads each chunk before the next comes. */
async function oneUpload(): Promise<void> {
  const answered = new Promise<void>((resolve) => (socket.onWrite = resolve));
  for (const read of uploads) {
    // The same buffers every time: a fresh 64 KiB buffer per read (Node's socket allocates one) costs
    // ~18 µs here in page faults alone, Node's cost and not tsgi's, which it would hide.
    socket.emit('data', read);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await answered;
}

async function main(): Promise<void> {
  for (let i = 0; i < count; i++) await oneRequest(); // warm-up: optimized code, grown heap
  // Markers for bench/connection.mjs, which counts the --trace-gc-nvp lines between them.
  process.stdout.write('tsgi-bench: measure\n');
  const cpu: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < count; i++) await oneRequest();
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / count);
  }
  process.stdout.write('tsgi-bench: done\n');
  const answer = caseId === '64k' ? BIG : uploading ? Buffer.from(`${UPLOAD_BYTES}\n`) : HELLO;
  const expected = answer.byteLength * count * (rounds + 1); // a lower bound
  if (socket.bytesWritten < expected) throw new Error(`bench: only ${socket.bytesWritten} bytes answered`);
  // One more request, its response kept: the right answer (an app's 404 or 500 would pass the count).
  socket.captured = [];
  await oneRequest();
  const written = Buffer.concat(socket.captured);
  socket.captured = undefined;
  // A 64 KiB body spans two STDOUT records (a record header inside it): its head says enough.
  const right =
    written.includes('Status: 200') &&
    written.includes(`Content-Length: ${answer.byteLength}\r\n`) &&
    (answer === BIG || written.includes(answer));
  if (!right) {
    throw new Error(`bench: the ${caseId} answer is not the expected one: ${JSON.stringify(written.subarray(8, 120).toString('latin1'))}`);
  }
  process.stdout.write(`tsgi-bench: ${JSON.stringify({ caseId, count, rounds, cpuUsPerRequest: cpu })}\n`);
}

void main();
