// Holds the listening socket of `--workers` from the primary's side, for the pool's whole life, and hands it to each worker as a descriptor.

import { chmodSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Stoppable } from './lifecycle.js';
import { DEFAULT_SOCKET_MODE, listenError, prepareUnixSocket, type ListenAddress } from './listen.js';

/**
 * The descriptor a worker listens on: the primary's `fd`, at number `at` in the worker (stdio,
 * below node:cluster's IPC channel).
 */
export interface WorkerSocket {
  fd: number;
  at: number;
}

/** The listening socket of a pool, held by the primary (see {@link holdSocket}). */
export interface HeldSocket extends Stoppable {
  /** Where it listens: the port a port 0 got, the unix socket's path, or the inherited `fd:N`. */
  readonly address: ListenAddress;
  /** What each worker gets; its `TSGI_WORKER_LISTEN` is `fd:${at}`. */
  readonly forWorkers: WorkerSocket;
}

/** Where a socket the primary bound itself goes in each worker: systemd's first number. */
const WORKER_FD = 3;

/** The part of a libuv TCP or pipe handle (Node's tcp_wrap, pipe_wrap) used here. */
interface ServerHandle {
  /** The descriptor. */
  readonly fd: number;
  /** Fills `out` with the bound address; returns 0 or a negative errno (libuv defers bind's EADDRINUSE to here). */
  getsockname?(out: { port?: number }): number;
  close(callback?: () => void): void;
}

/** net._createServerHandle(address, port, addressType, fd, flags): a bound, not yet listening handle, or a negative errno. */
type CreateServerHandle = (address: string, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number;

/**
 * Readies the socket a pool of workers shares, and keeps it open in the primary until it is closed.
 * PHP-FPM's master and gunicorn's arbiter hold theirs the same way, so the socket outlives every
 * worker: a connection made while none accepts (the only worker died, `--workers 1`) waits in the
 * kernel's backlog for the next worker, instead of being refused (nginx: 502).
 * - `tcp`: bound here (a host name is looked up first, as `net.Server#listen` does; port 0 gets a
 *   free port); `unix`: the path readied as {@link prepareUnixSocket} does (a stale socket file is
 *   replaced, a live one is an error), bound here, and given `socketMode`. Neither listens in the
 *   primary: the first worker's `listen()` makes the socket listen, and the primary never accepts.
 *   Close (and destroy) closes the primary's copy, which removes a unix socket's file (libuv
 *   unlinks the path it bound); the socket is gone once every worker has closed its copy too.
 * - `fd`: an inherited socket (fd 0 from spawn-fcgi or mod_fcgid, systemd's fd 3) is already held
 *   for the primary's life, and is not ours to close: handed on at its own number.
 * node:cluster's own sharing (`SCHED_NONE`) is not used for this: it closes the socket in the
 * primary as soon as no worker has it open, and binds it again for the next one.
 * Uses `net._createServerHandle`, the function node:cluster binds with in its primary: Node has no
 * public way to bind a socket without accepting on it.
 * @param socketMode - permissions of a unix socket; default {@link DEFAULT_SOCKET_MODE} (0660).
 * @throws {TsgiError} code `TSGI_LISTEN` when the address cannot be bound (in use, no permission,
 *   a unix socket's directory missing, another process accepting on its path).
 */
export async function holdSocket(address: ListenAddress, socketMode = DEFAULT_SOCKET_MODE): Promise<HeldSocket> {
  if (address.kind === 'fd') return { address, forWorkers: { fd: address.fd, at: address.fd }, close: async () => {}, destroy: () => {} };
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') {
    throw listenError(address, 'this Node has no net._createServerHandle to bind the workers\' socket with; use systemd socket activation');
  }
  let handle: ServerHandle | number;
  let bound = address;
  if (address.kind === 'unix') {
    await prepareUnixSocket(address);
    handle = create(address.path, -1, -1);
  } else {
    let host = address.host;
    let family = net.isIP(host);
    if (family === 0) {
      try {
        ({ address: host, family } = await lookup(host));
      } catch (error) {
        throw listenError(address, error);
      }
    }
    handle = create(host, address.port, family);
    if (typeof handle !== 'number') {
      const name: { port?: number } = {};
      const error = handle.getsockname?.(name) ?? 0;
      if (error < 0) {
        handle.close();
        handle = error;
      } else {
        bound = { ...address, port: name.port ?? address.port };
      }
    }
  }
  if (typeof handle === 'number') throw listenError(address, systemError(handle));
  const held = handle;
  if (address.kind === 'unix') {
    try {
      chmodSync(address.path, socketMode);
    } catch (error) {
      held.close();
      throw listenError(address, error);
    }
  }
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    held.close();
  };
  return {
    address: bound,
    forWorkers: { fd: held.fd, at: WORKER_FD },
    close: async () => close(),
    destroy: close,
  };
}

/**
 * The stdio of a worker process: the terminal's stdin, stdout and stderr, the listening socket at
 * its number (in place of stdin for fd 0), then node:cluster's IPC channel.
 * @example workerStdio({ fd: 21, at: 3 }) // ['inherit', 'inherit', 'inherit', 21, 'ipc']
 */
export function workerStdio(socket: WorkerSocket): Array<'inherit' | 'ignore' | 'ipc' | number> {
  const stdio: Array<'inherit' | 'ignore' | 'ipc' | number> = ['inherit', 'inherit', 'inherit'];
  if (socket.at < stdio.length) {
    stdio[socket.at] = socket.fd;
  } else {
    for (let i = stdio.length; i < socket.at; i++) stdio.push('ignore');
    stdio.push(socket.fd);
  }
  stdio.push('ipc');
  return stdio;
}

/** A negative libuv errno as an Error with its code (`EADDRINUSE`), as Node's own errors are. */
function systemError(errno: number): Error {
  const code = getSystemErrorName(errno);
  const message = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : code;
  return Object.assign(new Error(`${code}: ${message}`), { code, errno });
}
