// The hosts the conformance table runs through: in-process, the CGI runner, the FastCGI daemon, the dev front.

import { request as httpRequest } from 'node:http';
import { PassThrough } from 'node:stream';
import { runCgi } from '../../src/cgi/runner.js';
import { parseCgiHead } from '../../src/core/cgi-response.js';
import type { App } from '../../src/core/types.js';
import { startHttpFront } from '../../src/daemon/http-front.js';
import { FastCgiServer } from '../../src/daemon/server.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';
import { TestClient } from '../../src/testing/client.js';
import { requestBody, requestParams, type TestRequest } from '../../src/testing/environ-builder.js';

export interface HostResponse {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** False when the response was cut off (the client saw it end abnormally). */
  complete: boolean;
}

export interface Host {
  name: string;
  run(app: App, request: TestRequest): Promise<HostResponse>;
}

export const inProcess: Host = {
  name: 'in-process TestClient',
  async run(app, request) {
    const res = await new TestClient(app).request(request);
    return { status: res.status, reason: res.statusLine.slice(4), headers: res.headers, body: res.body, complete: !res.cutOff };
  },
};

export const cgi: Host = {
  name: 'CGI runner',
  async run(app, request) {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const body = requestBody(request);
    stdin.end(body ?? Buffer.alloc(0));
    const exitCode = await runCgi(app, { env: requestParams(request), stdin, stdout, stderr: new PassThrough() });
    const all = Buffer.concat(chunks);
    const head = parseCgiHead(all);
    if (head === null) throw new Error(`CGI output has no complete head: ${all.toString('latin1')}`);
    const rest = all.subarray(head.headerBytes);
    const length = head.headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1];
    // A CGI front sees a cut-off only through Content-Length; the exit code tells the log.
    const complete = exitCode === 0 || (length !== undefined && Number(length) === rest.byteLength);
    return { status: head.status, reason: head.statusText, headers: head.headers, body: rest, complete };
  },
};

async function withDaemon<T>(app: App, use: (address: { host: string; port: number }) => Promise<T>): Promise<T> {
  const server = new FastCgiServer({ app, log: () => {} });
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  try {
    if (bound.kind !== 'tcp') throw new Error('expected tcp');
    return await use({ host: bound.host, port: bound.port });
  } finally {
    server.destroy();
  }
}

export const fastcgi: Host = {
  name: 'FastCGI daemon',
  run: (app, request) =>
    withDaemon(app, async (address) => {
      const client = await FastCgiClient.connect(address);
      try {
        const body = requestBody(request);
        const res = await client.request({ params: requestParams(request), ...(body ? { body } : {}) });
        const chunks: Buffer[] = [];
        let complete = true;
        try {
          for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
        } catch {
          complete = false; // the connection closed without FCGI_END_REQUEST
        }
        return { status: res.status, reason: res.statusText, headers: res.headers, body: Buffer.concat(chunks), complete };
      } finally {
        client.close();
      }
    }),
};

export const devFront: Host = {
  name: 'dev HTTP front -> FastCGI daemon',
  run: (app, request) =>
    withDaemon(app, async (upstream) => {
      const front = await startHttpFront({ listen: { host: '127.0.0.1', port: 0 }, upstream, log: () => {} });
      try {
        return await new Promise<HostResponse>((resolve, reject) => {
          const body = requestBody(request);
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port: front.address.port,
              method: request.method ?? 'GET',
              path: request.url ?? '/',
              headers: { ...request.headers, ...(body ? { 'Content-Length': String(body.byteLength) } : {}) },
            },
            (res) => {
              const chunks: Buffer[] = [];
              let complete = true;
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('aborted', () => (complete = false));
              res.on('error', () => (complete = false));
              res.on('close', () => {
                const headers: Array<[string, string]> = [];
                for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
                resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers, body: Buffer.concat(chunks), complete: complete && res.complete });
              });
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      } finally {
        await front.close();
      }
    }),
};

export const hosts: Host[] = [inProcess, cgi, fastcgi, devFront];
