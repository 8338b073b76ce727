// Test double: a minimal FastCGI responder (application side) built on tsgi's own parser and writer.
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { FCGI_KEEP_CONN, FCGI_NULL_REQUEST_ID, ProtocolStatus, RecordType } from '../../src/fastcgi/constants.js';
import { decodeParams, encodeParams, type ParamPairs } from '../../src/fastcgi/params.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import { decodeBeginRequestBody, encodeUnknownTypeBody } from '../../src/fastcgi/record.js';
import { RecordWriter } from '../../src/fastcgi/writer.js';

export interface FakeRequest {
  role: number;
  keepConn: boolean;
  params: ParamPairs;
  env: Record<string, string>;
  stdin: Buffer;
  connectionId: number;
}

export interface FakeOutput {
  /** Writes FCGI_STDOUT data; resolves once the socket can take more. */
  stdout(data: string | Uint8Array): Promise<void>;
  stderr(text: string): void;
  /** Closes STDOUT (and STDERR if used), sends END_REQUEST, closes the socket unless keepConn. */
  end(appStatus?: number, protocolStatus?: number): void;
  /** Sends only END_REQUEST (for refusals). */
  endRequest(appStatus: number, protocolStatus: number): void;
  /** Drops the connection without ending the request. */
  destroy(): void;
  /** True once the web server side has closed the connection (the request is aborted). */
  gone(): boolean;
}

export type FakeHandler = (request: FakeRequest, out: FakeOutput) => void | Promise<void>;

export interface FakeResponder {
  address: { host: string; port: number };
  requests: FakeRequest[];
  /** Connections accepted so far. */
  connections(): number;
  /** Bytes of FCGI_STDOUT content written so far (all connections). */
  stdoutBytes(): number;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1, port 0. Answers GET_VALUES; unknown management types get UNKNOWN_TYPE. */
export async function startFakeResponder(handler: FakeHandler): Promise<FakeResponder> {
  const requests: FakeRequest[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let stdoutBytes = 0;
  const server = net.createServer((socket) => {
    const connectionId = ++accepted;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
    const writer = new RecordWriter(socket);
    let begin: { id: number; role: number; keepConn: boolean } | null = null;
    let params: Buffer[] = [];
    let stdin: Buffer[] = [];
    let pairs: ParamPairs = [];
    const parser = new RecordParser((type, id, content) => {
      if (id === FCGI_NULL_REQUEST_ID) {
        if (type === RecordType.FCGI_GET_VALUES) {
          const known: Record<string, string> = { FCGI_MAX_CONNS: '10', FCGI_MAX_REQS: '10', FCGI_MPXS_CONNS: '0' };
          const answer = decodeParams(content)
            .filter(([name]) => name in known)
            .map(([name]): [string, string] => [name, known[name]!]);
          writer.record(RecordType.FCGI_GET_VALUES_RESULT, 0, encodeParams(answer));
        } else {
          writer.record(RecordType.FCGI_UNKNOWN_TYPE, 0, encodeUnknownTypeBody(type));
        }
        return;
      }
      if (type === RecordType.FCGI_BEGIN_REQUEST) {
        const body = decodeBeginRequestBody(content);
        begin = { id, role: body.role, keepConn: (body.flags & FCGI_KEEP_CONN) !== 0 };
        params = [];
        stdin = [];
        return;
      }
      if (begin === null || id !== begin.id) return;
      if (type === RecordType.FCGI_PARAMS) {
        if (content.length > 0) params.push(Buffer.from(content));
        else pairs = decodeParams(Buffer.concat(params));
      } else if (type === RecordType.FCGI_STDIN) {
        if (content.length > 0) return void stdin.push(Buffer.from(content));
        const current = begin;
        begin = null;
        const request: FakeRequest = {
          role: current.role,
          keepConn: current.keepConn,
          params: pairs,
          env: Object.fromEntries(pairs),
          stdin: Buffer.concat(stdin),
          connectionId,
        };
        requests.push(request);
        let stderrUsed = false;
        const out: FakeOutput = {
          async stdout(data) {
            const bytes = typeof data === 'string' ? Buffer.from(data) : data;
            stdoutBytes += bytes.length;
            if (!writer.stream(RecordType.FCGI_STDOUT, current.id, bytes) && !socket.destroyed) {
              writer.flush();
              if (!socket.writableNeedDrain) return;
              await new Promise<void>((resolve) => {
                const done = (): void => {
                  socket.off('drain', done);
                  socket.off('close', done);
                  resolve();
                };
                socket.on('drain', done);
                socket.on('close', done);
              });
            }
          },
          stderr(text) {
            stderrUsed = true;
            writer.stream(RecordType.FCGI_STDERR, current.id, Buffer.from(text));
          },
          end(appStatus = 0, protocolStatus = ProtocolStatus.FCGI_REQUEST_COMPLETE) {
            if (socket.destroyed) return;
            writer.endStream(RecordType.FCGI_STDOUT, current.id);
            if (stderrUsed) writer.endStream(RecordType.FCGI_STDERR, current.id);
            out.endRequest(appStatus, protocolStatus);
          },
          endRequest(appStatus, protocolStatus) {
            if (socket.destroyed) return;
            writer.endRequest(current.id, appStatus, protocolStatus);
            writer.flush();
            if (!current.keepConn) socket.end();
          },
          destroy() {
            writer.flush(); // what was written goes out, then the connection drops
            socket.destroy();
          },
          gone: () => socket.destroyed || socket.readableEnded,
        };
        void Promise.resolve(handler(request, out)).catch(() => socket.destroy());
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk);
      } catch {
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: { host: '127.0.0.1', port },
    requests,
    connections: () => accepted,
    stdoutBytes: () => stdoutBytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
