// Tests the daemon's listening sockets: address parsing, unix socket mode, stale socket files.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenOn, parseListenAddress } from '../../src/daemon/listen.js';

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    [':9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['[::1]:9000', { kind: 'tcp', host: '::1', port: 9000 }],
    ['localhost:80', { kind: 'tcp', host: 'localhost', port: 80 }],
    ['/run/tsgi.sock', { kind: 'unix', path: '/run/tsgi.sock' }],
    ['unix:/run/tsgi.sock', { kind: 'unix', path: '/run/tsgi.sock' }],
    ['./tsgi.sock', { kind: 'unix', path: './tsgi.sock' }],
    ['fd:0', { kind: 'fd', fd: 0 }],
  ])('parses %s, defaulting to loopback', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each(['nonsense', '127.0.0.1:99999', 'host:port'])('rejects %s with TSGI_BAD_LISTEN', (text) => {
    expect(() => parseListenAddress(text)).toThrow(expect.objectContaining({ code: 'TSGI_BAD_LISTEN' }) as Error);
  });
});

describe('listenOn a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-listen-'));

  it('creates the socket with the mode asked for (default 0660)', async () => {
    const path = join(dir, 'mode.sock');
    const server = createServer();
    await listenOn(server, { kind: 'unix', path });
    expect(statSync(path).mode & 0o777).toBe(0o660);
    server.close();
    const other = createServer();
    await listenOn(other, { kind: 'unix', path: join(dir, 'open.sock') }, 0o666);
    expect(statSync(join(dir, 'open.sock')).mode & 0o777).toBe(0o666);
    other.close();
  });

  it('replaces a stale socket file that nothing listens on (a daemon that died)', async () => {
    const path = join(dir, 'stale.sock');
    // Bind without listening and exit: the file stays, nothing accepts on it.
    const made = spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`]);
    expect(made.status).toBe(0);
    expect(statSync(path).isSocket()).toBe(true);
    const server = createServer();
    await listenOn(server, { kind: 'unix', path });
    server.close();
  });

  it('refuses a socket another process is serving', async () => {
    const path = join(dir, 'live.sock');
    const first = createServer();
    await listenOn(first, { kind: 'unix', path });
    await expect(listenOn(createServer(), { kind: 'unix', path })).rejects.toThrow(/in use by another process/);
    first.close();
  });

  it('refuses to replace a file that is not a socket', async () => {
    const path = join(dir, 'regular-file');
    writeFileSync(path, 'precious');
    await expect(listenOn(createServer(), { kind: 'unix', path })).rejects.toThrow(/is not a socket/);
  });

  it('names a missing directory (Node alone says "permission denied")', async () => {
    const path = join(dir, 'missing', 'tsgi.sock');
    await expect(listenOn(createServer(), { kind: 'unix', path })).rejects.toThrow(
      `tsgi: cannot listen on ${path}: the directory ${join(dir, 'missing')} does not exist`,
    );
  });
});
