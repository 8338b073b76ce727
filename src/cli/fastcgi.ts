// The `tsgi fastcgi` subcommand: options -> the FastCGI daemon (and the optional development HTTP front).
//
// Loaded by main.ts with import() only when a daemon is wanted, so a CGI request never pays for
// the daemon's code and the node: built-ins it needs (net, http).

import cluster from 'node:cluster';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { AppType } from '../adapters/detect.js';
import { TsgiError } from '../core/errors.js';
import { startHttpFront } from '../daemon/http-front.js';
import { createStopper, stopOnSignals, type Stoppable } from '../daemon/lifecycle.js';
import {
  DEFAULT_SOCKET_MODE,
  formatListenAddress,
  listenError,
  parseListenAddress,
  stdinIsSocket,
  type ListenAddress,
} from '../daemon/listen.js';
import { holdSocket } from '../daemon/primary-socket.js';
import { FastCgiServer, parseWebServerAddrs, type FastCgiServerOptions } from '../daemon/server.js';
import { WorkerSide } from '../daemon/worker.js';
import { WorkerPool } from '../daemon/workers.js';
import { parseCommandArgs } from './args.js';
import { loadApp } from './load-app.js';
import { appType, positiveInt } from './options.js';

// main.ts uses these: its `tsgi <app>` detection, and telling this module's TsgiError (the built
// chunk has its own copy of the core) from a crash.
export { stdinIsSocket, TsgiError };

/** True when a process manager started us with a listening socket: systemd's, or one on fd 0. */
export function startedWithSocket(): boolean {
  return systemdSocket(process.env) !== undefined || stdinIsSocket();
}

/**
 * Runs `tsgi fastcgi <app> [options]` (see the CLI's --help for the options): loads the app,
 * listens, and stops gracefully on SIGTERM/SIGINT. Every option is checked before the app loads
 * and before anything listens.
 * @param args - the arguments after `fastcgi`.
 * @returns once the daemon listens; it keeps serving until a signal stops it.
 * @throws {TsgiError} code `TSGI_USAGE` or `TSGI_BAD_LISTEN` for a bad option, `TSGI_LOAD_APP` when
 *   the app cannot be loaded, `TSGI_LISTEN` when an address cannot be bound.
 */
export async function fastcgiCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs('fastcgi', args, {
    listen: { type: 'string' },
    'socket-mode': { type: 'string' },
    'script-name': { type: 'string' },
    'max-conns': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'grace-ms': { type: 'string' },
    'no-multiplex': { type: 'boolean' },
    'max-requests-per-conn': { type: 'string' },
    'idle-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'web-server-addrs': { type: 'string' },
    http: { type: 'string' },
    type: { type: 'string' },
    workers: { type: 'string' },
    'max-requests': { type: 'string' },
  });
  const appSpec = positionals[0];
  if (appSpec === undefined || positionals.length > 1) {
    throw new TsgiError('TSGI_USAGE', 'tsgi: fastcgi needs exactly one app module; see tsgi --help');
  }
  let address: ListenAddress;
  const systemd = systemdSocket(process.env);
  const workerListen = cluster.isWorker ? process.env.TSGI_WORKER_LISTEN : undefined;
  if (workerListen !== undefined) {
    // Started by our own primary (servePrimary): the descriptor it passed (fd:N), whatever the
    // primary listens on; it alone reads --listen, LISTEN_FDS and fd 0.
    address = parseListenAddress(workerListen);
  } else if (values.listen !== undefined) {
    address = parseListenAddress(values.listen);
  } else if (systemd !== undefined) {
    address = systemd;
    forgetSystemdSocket(process.env);
  } else if (stdinIsSocket()) {
    address = { kind: 'fd', fd: 0 };
  } else {
    throw new TsgiError(
      'TSGI_USAGE',
      'tsgi: no --listen given and fd 0 is not a listening socket; use e.g. --listen 127.0.0.1:9000',
    );
  }
  const socketMode = values['socket-mode'] === undefined ? DEFAULT_SOCKET_MODE : parseInt(values['socket-mode'], 8);
  if (!Number.isInteger(socketMode) || socketMode < 0 || socketMode > 0o777) {
    throw new TsgiError('TSGI_USAGE', `tsgi: invalid --socket-mode ${values['socket-mode']}; use octal like 0660`);
  }
  const front = values.http === undefined ? undefined : parseListenAddress(values.http, '--http');
  // A worker's address is the descriptor its primary passed; the primary checked its own.
  if (front !== undefined && (front.kind !== 'tcp' || (address.kind === 'fd' && workerListen === undefined))) {
    throw new TsgiError('TSGI_USAGE', '--http needs HOST:PORT and a daemon --listen address it can connect to');
  }
  const graceMs = positiveInt(values['grace-ms'], '--grace-ms', 30_000);
  const type = appType(values.type, '--type');
  const scriptName = values['script-name'];
  if (scriptName !== undefined && scriptName !== '' && !scriptName.startsWith('/')) {
    throw new TsgiError('TSGI_USAGE', `tsgi: invalid --script-name ${scriptName}; use a path from the site's root, like /app`);
  }
  const webServerAddrs = parseWebServerAddrs(values['web-server-addrs'] ?? process.env.FCGI_WEB_SERVER_ADDRS);
  for (const address of webServerAddrs ?? []) {
    if (isIP(address) === 0) {
      const from = values['web-server-addrs'] === undefined ? 'FCGI_WEB_SERVER_ADDRS' : '--web-server-addrs';
      throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${from} entry ${address}; use IP addresses, comma-separated`);
    }
  }
  const limits = {
    maxConns: positiveInt(values['max-conns'], '--max-conns', 1024),
    maxBodyBytes: positiveInt(values['max-body-bytes'], '--max-body-bytes', 1024 ** 3),
    maxRequestsPerConnection: positiveInt(values['max-requests-per-conn'], '--max-requests-per-conn', 100),
    idleTimeoutMs: positiveInt(values['idle-timeout-ms'], '--idle-timeout-ms', 120_000),
    requestTimeoutMs: positiveInt(values['request-timeout-ms'], '--request-timeout-ms', 60_000),
  };
  const workers = values.workers === undefined ? undefined : workerCount(values.workers);
  const maxRequests = positiveInt(values['max-requests'], '--max-requests', 0);
  if (maxRequests > 0 && workers === undefined) {
    throw new TsgiError('TSGI_USAGE', 'tsgi: --max-requests needs --workers: the primary starts each replacement');
  }
  const log = (line: string): void => void process.stderr.write(line);
  const serve: ServeOptions = {
    appSpec,
    type,
    log,
    graceMs,
    socketMode,
    server: {
      log,
      // The --http front does not relay FCGI_STDERR: the app's tsgi.errors reach the terminal here.
      echoErrors: front !== undefined,
      scriptName,
      ...limits,
      multiplex: values['no-multiplex'] !== true,
      webServerAddrs,
    },
  };
  if (workerListen !== undefined) {
    await serveAsWorker(serve, address, maxRequests);
    return;
  }
  if (workers !== undefined) {
    await servePrimary(serve, address, workers, front);
    return;
  }
  // SIGHUP's default action ends the process, and systemd counts that as a clean exit: a
  // `systemctl reload` of a unit without --workers would stop the service for good. One process
  // cannot reload its app in place (an ES module cannot be unloaded), so it says so and serves on.
  // From before the app loads: a reload may come while it does.
  process.on('SIGHUP', () => log(SINGLE_PROCESS_SIGHUP));
  const app = await loadApp(appSpec, type, undefined, { boot: true });
  const server = new FastCgiServer({
    app,
    ...serve.server,
    // A process manager that hands us a socket on fd 0 (mod_fcgid, spawn-fcgi) may start several.
    multiprocess: address.kind === 'fd' && systemd === undefined,
  });
  const bound = await server.listen(address, socketMode);
  log(`tsgi: fastcgi listening on ${formatListenAddress(bound)}\n`);
  const targets: Stoppable[] = [server];
  if (front !== undefined) targets.push(await startFront(front, bound, log));
  // Exit once stopped: the app may hold the event loop open for ever (a module-level setInterval).
  stopOnSignals(targets, log, graceMs, { exit: (code) => process.exit(code) });
}

const SINGLE_PROCESS_SIGHUP =
  'tsgi: SIGHUP ignored: a single process cannot reload its app; run with --workers to reload on SIGHUP, or restart the daemon\n';

/** What every way of serving needs, from the command line. */
interface ServeOptions {
  appSpec: string;
  type: AppType | undefined;
  log: (line: string) => void;
  graceMs: number;
  socketMode: number;
  server: Omit<FastCgiServerOptions, 'app'>;
}

/**
 * `--workers N`, the primary: holds the socket (daemon/primary-socket.ts), starts the workers
 * (daemon/workers.ts), and stops (SIGTERM, SIGINT, SIGQUIT) or reloads them (SIGHUP). It never
 * loads the app.
 */
async function servePrimary(serve: ServeOptions, address: ListenAddress, workers: number, front: ListenAddress | undefined): Promise<void> {
  const log = serve.log;
  const socket = await holdSocket(address, serve.socketMode);
  const pool = new WorkerPool({
    workers,
    env: { TSGI_WORKER_LISTEN: formatListenAddress({ kind: 'fd', fd: socket.forWorkers.at }) },
    socket: socket.forWorkers,
    log,
    graceMs: serve.graceMs,
  });
  // Signals are handled from now on, not once the workers listen: systemd may stop the service or
  // reload it (SIGHUP, whose default action would end the primary) while the app loads. A stop
  // closes the primary's copy of the socket at once (and removes a unix socket's file), as the
  // workers close theirs.
  const targets: Stoppable[] = [pool, socket];
  stopOnSignals(targets, log, serve.graceMs, { exit: (code) => process.exit(code) });
  process.on('SIGHUP', () => void pool.reload());
  let started: boolean;
  try {
    started = await pool.start();
  } catch (error) {
    socket.destroy();
    throw error;
  }
  // False: stopped while starting; the stop ends the process.
  if (!started) return;
  const where = formatListenAddress(socket.address);
  log(`tsgi: fastcgi listening on ${where} with ${workers} worker(s) (${pool.pids.join(', ')}; primary ${process.pid}): SIGHUP reloads the app, SIGTERM stops\n`);
  if (front !== undefined) targets.push(await startFront(front, socket.address, log));
}

/** A worker started by {@link servePrimary}: loads the app, listens on the shared socket, obeys the primary. */
async function serveAsWorker(serve: ServeOptions, address: ListenAddress, maxRequests: number): Promise<void> {
  const targets: Stoppable[] = [];
  const stopper = createStopper(targets, serve.log, serve.graceMs, { exit: (code) => process.exit(code) });
  const side = new WorkerSide({ maxRequests, send: (message) => process.send?.(message, undefined, {}, ignore), stopper });
  // Orders and signals are obeyed while the app loads too: a stop then (SIGTERM during a reload)
  // ends the worker at once, where an order nobody listened for would be lost and the worker
  // would go on to listen, serve, and be killed later.
  stopOnSignals(stopper, serve.log);
  process.on('message', (message) => side.receive(message));
  // SIGHUP is the primary's (a terminal hang-up reaches the whole group): never the default exit.
  process.on('SIGHUP', () => {});
  const app = await loadApp(serve.appSpec, serve.type, undefined, { boot: true });
  const server = new FastCgiServer({ app, ...serve.server, multiprocess: true, onRequestDone: () => side.requestDone() });
  targets.push(server);
  await server.listen(address, serve.socketMode, true);
  side.listening();
}

/** Starts the development HTTP front (`--http`) forwarding to the daemon at `upstream`. */
async function startFront(front: ListenAddress, upstream: ListenAddress, log: (line: string) => void): Promise<Stoppable> {
  // fastcgiCommand refused these combinations with a usage message already; this narrows the types.
  if (front.kind !== 'tcp' || upstream.kind === 'fd') throw new TsgiError('TSGI_USAGE', '--http needs HOST:PORT and a --listen address');
  const target = upstream.kind === 'tcp' ? { host: upstream.host, port: upstream.port } : { path: upstream.path };
  const http = await startHttpFront({ listen: { host: front.host, port: front.port }, upstream: target, log, relayStderr: false }).catch((error: unknown) => {
    throw listenError(front, error);
  });
  log(
    `tsgi: development HTTP front on http://${formatListenAddress({ ...front, port: http.address.port })}/ ` +
      `-> fastcgi ${formatListenAddress(upstream)} (development only: put nginx or Apache in front in production)\n`,
  );
  return { close: () => http.close(), destroy: () => void http.close() };
}

/**
 * Reads `--workers`: a whole number from 1 to 256, or `auto` for one per CPU the process may use
 * (`os.availableParallelism()`).
 * @throws {TsgiError} code `TSGI_USAGE` for anything else.
 */
export function workerCount(text: string): number {
  if (text === 'auto') return Math.min(MAX_WORKERS, availableParallelism());
  const count = positiveInt(text, '--workers', 1);
  if (count > MAX_WORKERS) throw new TsgiError('TSGI_USAGE', `tsgi: invalid --workers ${text}; at most ${MAX_WORKERS}`);
  return count;
}

/** An IPC send's callback: a send failing because the primary is gone is not worth a crash (cluster then ends us). */
function ignore(): void {}

/** More workers than this is a typo, not a deployment. */
const MAX_WORKERS = 256;

/**
 * Removes systemd's socket-activation variables (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) once we
 * took the socket, as `sd_listen_fds(3)` does with `unset_environment` set: the app, what it starts
 * and our workers (node:cluster forks with `process.env`) must not take them for their own.
 */
function forgetSystemdSocket(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
}

/**
 * The first socket systemd passed us (socket activation: LISTEN_PID is our pid, LISTEN_FDS >= 1;
 * the sockets start at fd 3), or undefined when we were not socket-activated.
 */
function systemdSocket(env: NodeJS.ProcessEnv): ListenAddress | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !(Number(env.LISTEN_FDS) >= 1)) return undefined;
  return { kind: 'fd', fd: 3 };
}
