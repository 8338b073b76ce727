// Opens the daemon's listening socket: tcp host:port, a unix socket, or one inherited on fd 0.

import { chmodSync, existsSync, fstatSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname, resolve } from 'node:path';
import { TsgiError } from '../core/errors.js';
import { FCGI_LISTENSOCK_FILENO } from '../fastcgi/constants.js';

/** Where the daemon listens. */
export type ListenAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number };

/** Default permissions of a unix socket the daemon creates: owner and group may connect (as PHP-FPM). */
export const DEFAULT_SOCKET_MODE = 0o660;

/**
 * Parses a `--listen` value.
 * - `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000` → tcp
 * - `9000` → tcp on 127.0.0.1 (never all interfaces unless a host says so)
 * - `/run/tsgi.sock`, `./tsgi.sock`, `unix:/run/tsgi.sock` → unix socket
 * - `fd:0` → an inherited listening socket (FCGI_LISTENSOCK_FILENO, FastCGI spec §2.2)
 * @param option - the option's name for the message; default `'--listen'`.
 * @throws {TsgiError} code `TSGI_BAD_LISTEN` naming the value when it is none of these.
 */
export function parseListenAddress(text: string, option = '--listen'): ListenAddress {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice(5) };
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) return { kind: 'unix', path: text };
  const fd = /^fd:(\d+)$/.exec(text);
  if (fd !== null) return { kind: 'fd', fd: Number(fd[1]) };
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new TsgiError(
      'TSGI_BAD_LISTEN',
      `tsgi: invalid ${option} ${JSON.stringify(text)}; use HOST:PORT, PORT, /path/to.sock or fd:0`,
    );
  }
  const host = match[1] ?? match[2] ?? '';
  return { kind: 'tcp', host: host === '' ? '127.0.0.1' : host, port };
}

/** A human-readable form of an address, as logged and accepted by `parseListenAddress`. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return address.path;
  if (address.kind === 'fd') return `fd:${address.fd}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * The error for an address that could not be bound (EADDRINUSE, EACCES, ...).
 * @returns a TsgiError with code `TSGI_LISTEN` naming the address, the cause attached.
 */
export function listenError(address: ListenAddress, cause: unknown): TsgiError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TsgiError('TSGI_LISTEN', `tsgi: cannot listen on ${formatListenAddress(address)}: ${reason}`, { cause });
}

/** True when fd 0 is a socket (how mod_fcgid, spawn-fcgi and lighttpd hand a FastCGI app its listener). */
export function stdinIsSocket(): boolean {
  try {
    return fstatSync(FCGI_LISTENSOCK_FILENO).isSocket();
  } catch {
    return false;
  }
}

/**
 * Readies a unix socket's path for binding: its directory must exist, and a stale socket file
 * (nothing accepts on it: a previous daemon died) is removed. A live one is an error.
 * @throws {TsgiError} code `TSGI_LISTEN` when the directory is missing, the path is not a socket,
 *   or another process accepts on it.
 */
export async function prepareUnixSocket(address: { kind: 'unix'; path: string }): Promise<void> {
  // Node reports a missing directory as EACCES ("permission denied"), which sends people looking
  // at permissions: say what is missing.
  const directory = dirname(resolve(address.path));
  if (!existsSync(directory)) {
    throw listenError(address, `the directory ${directory} does not exist (create it; under systemd, RuntimeDirectory=)`);
  }
  await removeStaleSocket(address.path);
}

/**
 * Makes `server` listen on `address`. For a unix socket, a stale socket file (nothing accepts on it)
 * is removed first, a live one is an error, and the new socket gets `socketMode`.
 * @param socketMode - permissions for a new unix socket; default {@link DEFAULT_SOCKET_MODE} (0660).
 * @param shared - true in a worker process (daemon/worker.ts), which gets the socket as a
 *   descriptor from its primary (daemon/primary-socket.ts): an fd is listened on directly, by each
 *   worker on its own copy, outside node:cluster. Default false.
 * @returns the address actually bound (the port is filled in when 0 was asked).
 * @throws {TsgiError} code `TSGI_LISTEN` when the address is in use, is not a socket, or cannot be
 *   bound (a unix socket's directory missing, too).
 */
export async function listenOn(
  server: Server,
  address: ListenAddress,
  socketMode = DEFAULT_SOCKET_MODE,
  shared = false,
): Promise<ListenAddress> {
  if (address.kind === 'unix') await prepareUnixSocket(address);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(listenError(address, error));
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (address.kind === 'tcp') server.listen({ host: address.host, port: address.port }, done);
    else if (address.kind === 'unix') server.listen({ path: address.path }, done);
    else if (shared) listenOwnCopy(server, address.fd, done, (error) => reject(listenError(address, error)));
    else server.listen({ fd: address.fd }, done);
  });
  if (address.kind === 'unix') {
    chmodSync(address.path, socketMode);
    return address;
  }
  const bound = server.address();
  if (address.kind === 'tcp' && bound !== null && typeof bound === 'object') {
    return { kind: 'tcp', host: address.host, port: bound.port };
  }
  return address;
}

/**
 * Listens on descriptor `fd` in a node:cluster worker, on the worker's own copy. `listen({ fd })`
 * would not: in a worker it asks the primary to open that number in the primary (`exclusive` is
 * not read for a descriptor), which wraps whatever the primary has there and closes it once no
 * worker listens, so the next worker finds that number closed or reused ("bind EEXIST"; Node 20's
 * net.js, `Server#listen` and `listenInCluster`). `_listen2` is what `listen()` ends in for the
 * primary and for exclusive listens; Node keeps that name for code that wraps it. Reports as
 * `listen()` does: 'listening', or 'error'; `fail` when this Node has no `_listen2`.
 */
function listenOwnCopy(server: Server, fd: number, done: () => void, fail: (error: Error) => void): void {
  const setup = (server as unknown as { _listen2?: (address: null, port: null, addressType: null, backlog: number, fd: number) => void })._listen2;
  if (typeof setup !== 'function') {
    // The public listen({ fd }) is the broken path above: say so rather than fail later on EEXIST.
    fail(new Error('this Node has no net.Server#_listen2 to listen on a worker\'s own copy of the socket; run without --workers'));
    return;
  }
  server.once('listening', done);
  setup.call(server, null, null, null, 511, fd);
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new TsgiError('TSGI_LISTEN', `tsgi: ${path} exists and is not a socket; refusing to replace it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new TsgiError('TSGI_LISTEN', `tsgi: ${path} is in use by another process`);
  unlinkSync(path); // a previous daemon died without removing it
}
