// A minimal FastCGI responder (application side) that records the raw params a front server sends.
//
// Test-only, independent of src/: the app behind the real daemon sees the *normalised* environ, so
// this is how the e2e tests see what nginx and Apache actually put on the wire. It answers every
// request with 200 and a JSON body { params: [[name, value], ...], stdinBytes } (duplicates kept).
// Record layout and types: FastCGI spec §3.3 and §8; name-value pairs: §3.4.
import { createServer, type Server, type Socket } from 'node:net';

const FCGI_VERSION_1 = 1;
const FCGI_BEGIN_REQUEST = 1;
const FCGI_END_REQUEST = 3;
const FCGI_PARAMS = 4;
const FCGI_STDIN = 5;
const FCGI_STDOUT = 6;
const FCGI_KEEP_CONN = 1;
const HEADER_BYTES = 8;

export interface RecordedRequest {
  params: Array<[string, string]>;
  stdinBytes: number;
  keepConn: boolean;
  connection: number;
}

/** Decodes FastCGI name-value pairs (spec §3.4: lengths of 1 byte, or 4 with the high bit set). */
function decodePairs(bytes: Buffer): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let at = 0;
  const readLength = () => {
    if (bytes[at]! >> 7 === 0) return bytes[at++]!;
    const length = bytes.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return length;
  };
  while (at < bytes.length) {
    const nameLength = readLength();
    const valueLength = readLength();
    const name = bytes.subarray(at, at + nameLength).toString('latin1');
    at += nameLength;
    const value = bytes.subarray(at, at + valueLength).toString('latin1');
    at += valueLength;
    pairs.push([name, value]);
  }
  return pairs;
}

function record(type: number, requestId: number, content: Buffer): Buffer {
  const padding = (-content.length) & 7;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(FCGI_VERSION_1, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16BE(requestId, 2);
  header.writeUInt16BE(content.length, 4);
  header.writeUInt8(padding, 6);
  return Buffer.concat([header, content, Buffer.alloc(padding)]);
}

function respond(socket: Socket, requestId: number, body: Buffer, keepConn: boolean): void {
  const head = Buffer.from(`Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  const out = [record(FCGI_STDOUT, requestId, head)];
  for (let at = 0; at < body.length; at += 65535) out.push(record(FCGI_STDOUT, requestId, body.subarray(at, at + 65535)));
  out.push(record(FCGI_STDOUT, requestId, Buffer.alloc(0)));
  // FCGI_END_REQUEST body: appStatus (4 bytes), protocolStatus FCGI_REQUEST_COMPLETE (0), reserved.
  out.push(record(FCGI_END_REQUEST, requestId, Buffer.alloc(8)));
  socket.write(Buffer.concat(out));
  if (!keepConn) socket.end();
}

export interface FcgiRecorder {
  readonly server: Server;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts the recorder on a tcp port (`{ port, host }`) or a unix socket path. */
export async function startRecorder(listen: { host: string; port: number } | { path: string }): Promise<FcgiRecorder> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    const pending = new Map<number, { params: Buffer[]; stdinBytes: number; keepConn: boolean; paramsDone: boolean }>();
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= HEADER_BYTES) {
        const type = buffered[1]!;
        const requestId = buffered.readUInt16BE(2);
        const contentLength = buffered.readUInt16BE(4);
        const total = HEADER_BYTES + contentLength + buffered[6]!;
        if (buffered.length < total) break;
        const content = buffered.subarray(HEADER_BYTES, HEADER_BYTES + contentLength);
        buffered = buffered.subarray(total);
        if (type === FCGI_BEGIN_REQUEST) {
          pending.set(requestId, { params: [], stdinBytes: 0, keepConn: (content[2]! & FCGI_KEEP_CONN) !== 0, paramsDone: false });
        } else if (type === FCGI_PARAMS) {
          const request = pending.get(requestId);
          if (request && contentLength === 0) request.paramsDone = true;
          else request?.params.push(Buffer.from(content));
        } else if (type === FCGI_STDIN) {
          const request = pending.get(requestId);
          if (!request) continue;
          request.stdinBytes += contentLength;
          if (contentLength > 0) continue;
          pending.delete(requestId);
          const recorded: RecordedRequest = {
            params: decodePairs(Buffer.concat(request.params)),
            stdinBytes: request.stdinBytes,
            keepConn: request.keepConn,
            connection,
          };
          requests.push(recorded);
          respond(socket, requestId, Buffer.from(JSON.stringify(recorded)), request.keepConn);
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) server.listen(listen.path, () => resolve());
    else server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    server,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
