// A minimal FastCGI client (web-server side) that sends one request straight to the daemon and watches the connection.
//
// Test-only and independent of src/ (like fcgi-recorder.ts): it checks the daemon's side of the
// connection lifecycle, which no front server shows, e.g. that the daemon closes the connection
// after FCGI_END_REQUEST when FCGI_KEEP_CONN was not set (FastCGI spec §5.1, §3.5).
// Record layout and types: FastCGI spec §3.3 and §8; name-value pairs: §3.4.
import { connect, type Socket } from 'node:net';
import type { Endpoint } from './ports.js';

const FCGI_VERSION_1 = 1;
const FCGI_BEGIN_REQUEST = 1;
const FCGI_END_REQUEST = 3;
const FCGI_PARAMS = 4;
const FCGI_STDIN = 5;
const FCGI_STDOUT = 6;
const FCGI_STDERR = 7;
const FCGI_RESPONDER = 1;
const FCGI_KEEP_CONN = 1;
const HEADER_BYTES = 8;
const MAX_RECORD_CONTENT = 65535;
const REQUEST_ID = 1;

export interface RawRequest {
  params: Record<string, string>;
  stdin?: Buffer;
  /** Sets FCGI_KEEP_CONN in BEGIN_REQUEST; default false. */
  keepConn?: boolean;
  /** How long to wait, after FCGI_END_REQUEST, for the daemon to close its side. Default 2000. */
  closeWaitMs?: number;
  /** Bound on the whole exchange. Default 10000. */
  timeoutMs?: number;
}

export interface RawExchange {
  stdout: Buffer;
  stderr: Buffer;
  /** FCGI_END_REQUEST's body, or undefined when the connection ended without one. */
  end?: { appStatus: number; protocolStatus: number };
  /** True when the daemon ended the connection within closeWaitMs of FCGI_END_REQUEST. */
  closedByDaemon: boolean;
}

function record(type: number, content: Buffer): Buffer {
  const padding = (-content.length) & 7;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(FCGI_VERSION_1, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16BE(REQUEST_ID, 2);
  header.writeUInt16BE(content.length, 4);
  header.writeUInt8(padding, 6);
  return Buffer.concat([header, content, Buffer.alloc(padding)]);
}

/** A stream (PARAMS, STDIN) as records of at most 65535 bytes, ended by an empty record (spec §3.3). */
function stream(type: number, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += MAX_RECORD_CONTENT) out.push(record(type, bytes.subarray(at, at + MAX_RECORD_CONTENT)));
  out.push(record(type, Buffer.alloc(0)));
  return out;
}

function encodeLength(length: number): Buffer {
  if (length < 128) return Buffer.from([length]);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE((length | 0x80000000) >>> 0);
  return bytes;
}

function encodePairs(params: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(params)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(encodeLength(n.length), encodeLength(v.length), n, v);
  }
  return Buffer.concat(parts);
}

/** Sends one responder request and reports what came back and whether the daemon closed afterwards. */
export function rawRequest(endpoint: Endpoint, request: RawRequest): Promise<RawExchange> {
  const { params, stdin = Buffer.alloc(0), keepConn = false, closeWaitMs = 2_000, timeoutMs = 10_000 } = request;
  return new Promise((resolve, reject) => {
    const socket: Socket = 'path' in endpoint ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let end: RawExchange['end'];
    let buffered = Buffer.alloc(0);
    let closeTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (closedByDaemon: boolean, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      clearTimeout(closeTimer);
      socket.destroy();
      if (error) reject(error);
      else resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), end, closedByDaemon });
    };
    const overall = setTimeout(() => finish(false, new Error(`e2e: raw FastCGI request got no FCGI_END_REQUEST within ${timeoutMs} ms`)), timeoutMs);

    socket.once('connect', () => {
      const begin = Buffer.alloc(8);
      begin.writeUInt16BE(FCGI_RESPONDER, 0);
      begin.writeUInt8(keepConn ? FCGI_KEEP_CONN : 0, 2);
      socket.write(Buffer.concat([record(FCGI_BEGIN_REQUEST, begin), ...stream(FCGI_PARAMS, encodePairs(params)), ...stream(FCGI_STDIN, stdin)]));
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= HEADER_BYTES) {
        const type = buffered[1]!;
        const contentLength = buffered.readUInt16BE(4);
        const total = HEADER_BYTES + contentLength + buffered[6]!;
        if (buffered.length < total) break;
        const content = buffered.subarray(HEADER_BYTES, HEADER_BYTES + contentLength);
        buffered = buffered.subarray(total);
        if (type === FCGI_STDOUT) stdout.push(Buffer.from(content));
        else if (type === FCGI_STDERR) stderr.push(Buffer.from(content));
        else if (type === FCGI_END_REQUEST) {
          end = { appStatus: content.readUInt32BE(0), protocolStatus: content[4]! };
          closeTimer = setTimeout(() => finish(false), closeWaitMs);
        }
      }
    });
    // 'end': the daemon sent FIN; 'close' also covers a reset. Either way it let go of the connection.
    socket.once('end', () => finish(end !== undefined));
    socket.once('close', () => finish(end !== undefined));
    socket.once('error', (error) => {
      if (end !== undefined) finish(true);
      else finish(false, error);
    });
  });
}
