// Tests the socket the primary of --workers holds (daemon/primary-socket.ts): binding, errors, the file of a unix socket, the workers' stdio.

import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holdSocket, workerStdio, type HeldSocket } from '../../src/daemon/primary-socket.js';

let held: HeldSocket[] = [];
let servers: Server[] = [];
let dirs: string[] = [];
afterEach(() => {
  for (const socket of held) socket.destroy();
  for (const server of servers) server.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  held = [];
  servers = [];
  dirs = [];
});

async function hold(...args: Parameters<typeof holdSocket>): Promise<HeldSocket> {
  const socket = await holdSocket(...args);
  held.push(socket);
  return socket;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-primary-socket-'));
  dirs.push(dir);
  return dir;
}

describe('workerStdio', () => {
  it('puts the socket at its number, below the IPC channel; fd 0 in place of stdin', () => {
    expect(workerStdio({ fd: 21, at: 3 })).toEqual(['inherit', 'inherit', 'inherit', 21, 'ipc']);
    expect(workerStdio({ fd: 5, at: 5 })).toEqual(['inherit', 'inherit', 'inherit', 'ignore', 'ignore', 5, 'ipc']);
    expect(workerStdio({ fd: 0, at: 0 })).toEqual([0, 'inherit', 'inherit', 'ipc']);
  });
});

describe('holdSocket', () => {
  it('binds a tcp port (0: a free one) and hands it to workers at fd 3', async () => {
    const socket = await hold({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(socket.address).toMatchObject({ kind: 'tcp', host: '127.0.0.1' });
    expect(socket.address.kind === 'tcp' && socket.address.port).toBeGreaterThan(0);
    expect(socket.forWorkers.at).toBe(3);
    expect(socket.forWorkers.fd).toBeGreaterThan(2);
  });

  it('refuses a tcp port another process listens on, naming the address (bind would say so only at listen)', async () => {
    const other = createServer();
    servers.push(other);
    await new Promise<void>((resolve) => other.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (other.address() as { port: number }).port;
    await expect(holdSocket({ kind: 'tcp', host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'TSGI_LISTEN',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`),
    });
  });

  it('creates a unix socket with the mode asked for, and removes its file when closed', async () => {
    const path = join(tempDir(), 'tsgi.sock');
    const socket = await hold({ kind: 'unix', path }, 0o600);
    expect(socket.address).toEqual({ kind: 'unix', path });
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await socket.close(1000);
    expect(existsSync(path)).toBe(false);
    socket.destroy(); // once closed, a no-op
  });

  it('refuses a unix socket another process accepts on', async () => {
    const path = join(tempDir(), 'tsgi.sock');
    const other = createServer();
    servers.push(other);
    await new Promise<void>((resolve) => other.listen({ path }, resolve));
    await expect(holdSocket({ kind: 'unix', path })).rejects.toMatchObject({ code: 'TSGI_LISTEN', message: expect.stringContaining('in use') });
  });

  it('hands an inherited descriptor on at its own number, and never closes it', async () => {
    const socket = await hold({ kind: 'fd', fd: 3 });
    expect(socket.forWorkers).toEqual({ fd: 3, at: 3 });
    expect(socket.address).toEqual({ kind: 'fd', fd: 3 });
  });
});
