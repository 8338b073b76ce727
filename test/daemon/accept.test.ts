// Tests what the daemon does when accepting fails or is refused: one log line a second, and it keeps serving.

import type { Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/core/types.js';
import { FastCgiServer } from '../../src/daemon/server.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';

// The daemon's net.Server, to make it emit what a failing accept() makes Node emit.
const created: Server[] = [];
vi.mock('node:net', async (importOriginal) => {
  const net = await importOriginal<typeof import('node:net')>();
  const createServer = ((...args: Parameters<typeof net.createServer>) => {
    const server = net.createServer(...args);
    created.push(server);
    return server;
  }) as typeof net.createServer;
  return { ...net, default: { ...net, createServer }, createServer };
});

const PARAMS = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };
const app: App = (_env, start) => (start('200 OK', []), ['ok']);
let server: FastCgiServer | undefined;
afterEach(() => {
  server?.destroy();
  server = undefined;
  created.length = 0;
});

async function get(address: { host: string; port: number }): Promise<string> {
  const client = await FastCgiClient.connect(address);
  const res = await client.request({ params: PARAMS });
  let body = '';
  for await (const chunk of res.body) body += Buffer.from(chunk).toString();
  return body;
}

describe('accept failures', () => {
  it("logs an accept() error at most once a second and keeps serving (Node emits it on the server as 'error')", async () => {
    const logs: string[] = [];
    server = new FastCgiServer({ app, log: (line) => logs.push(line) });
    const address = (await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 })) as { host: string; port: number };
    const net = created.at(-1)!;
    const failure = (code: string) => Object.assign(new Error(`accept ${code}`), { code, syscall: 'accept' });
    for (let i = 0; i < 100; i++) net.emit('error', failure('ENFILE'));
    expect(logs.filter((line) => line.includes('accepting a connection failed'))).toEqual([
      'fastcgi: accepting a connection failed: accept ENFILE; still listening\n',
    ]);
    expect(await get(address)).toBe('ok');
  });

  it('logs refusals beyond --max-conns at most once a second, saying how many it left out', async () => {
    const logs: string[] = [];
    server = new FastCgiServer({ app, log: (line) => logs.push(line), maxConns: 1 });
    const address = (await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 })) as { host: string; port: number };
    const held = await FastCgiClient.connect(address); // takes the one slot
    const refused = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const client = await FastCgiClient.connect(address);
        await client.closed;
      }),
    );
    expect(refused).toHaveLength(5);
    expect(logs.filter((line) => line.includes('--max-conns 1 reached'))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = await FastCgiClient.connect(address);
    await late.closed;
    expect(logs.filter((line) => line.includes('--max-conns 1 reached')).at(-1)).toMatch(/reached \(4 more since the last such line\)\n$/);
    held.close();
  });
});
