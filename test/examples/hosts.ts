// The hosts the example case table runs through: the in-process TestClient, toFetch, and the dev server.

import { toFetch } from '../../src/adapters/fetch.js';
import type { App } from '../../src/core/types.js';
import type { DevServer } from '../../src/dev/server.js';
import { TestClient } from '../../src/testing/client.js';
import type { ExampleRequest } from './cases.js';

export interface HostResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** How many body chunks arrived separately; undefined where the host cannot see them. */
  chunks: number | undefined;
  /** True when the response came over HTTP/1.1, whose connection fields (Keep-Alive…) are expected. */
  wire: boolean;
}

/** What a host needs: the adapted app, and the dev server already serving it. */
export interface HostContext {
  app: App;
  dev: DevServer;
}

export interface Host {
  name: string;
  run(context: HostContext, request: ExampleRequest): Promise<HostResponse>;
}

const inProcess: Host = {
  name: 'TestClient',
  async run({ app }, request) {
    const res = await new TestClient(app).request(request);
    return { status: res.status, headers: res.headers, body: res.body, chunks: undefined, wire: false };
  },
};

/** Reads a Response's body chunk by chunk, counting the chunks. */
async function readBody(response: Response): Promise<{ body: Buffer; chunks: number }> {
  const parts: Buffer[] = [];
  if (response.body !== null) {
    for await (const chunk of response.body) parts.push(Buffer.from(chunk));
  }
  return { body: Buffer.concat(parts), chunks: parts.length };
}

function responseHeaders(response: Response): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  return headers;
}

function requestInit(request: ExampleRequest): RequestInit {
  return { method: request.method, headers: request.headers, body: request.body, redirect: 'manual' };
}

const fetchHost: Host = {
  name: 'toFetch',
  async run({ app }, request) {
    const response = await toFetch(app, { log: () => {} })(new Request(`http://localhost${request.url}`, requestInit(request)));
    const { body, chunks } = await readBody(response);
    return { status: response.status, headers: responseHeaders(response), body, chunks, wire: false };
  },
};

const devServer: Host = {
  name: 'dev server',
  async run({ dev }, request) {
    const response = await fetch(`${dev.url}${request.url}`, requestInit(request));
    const { body } = await readBody(response);
    // TCP may merge chunks, so their count proves nothing here; streaming is tested in test/dev.
    return { status: response.status, headers: responseHeaders(response), body, chunks: undefined, wire: true };
  },
};

export const HOSTS: Host[] = [inProcess, fetchHost, devServer];
