// The `tsgi fastcgi` subcommand: options -> the FastCGI daemon (and the optional development HTTP front).
//
// Loaded by main.ts with import() only when a daemon is wanted, so a CGI request never pays for
// the daemon's code and the node: built-ins it needs (net, http).

import { isIP } from 'node:net';
import { TsgiError } from '../core/errors.js';
import { startHttpFront } from '../daemon/http-front.js';
import { stopOnSignals, type Stoppable } from '../daemon/lifecycle.js';
import {
  DEFAULT_SOCKET_MODE,
  formatListenAddress,
  listenError,
  parseListenAddress,
  stdinIsSocket,
  type ListenAddress,
} from '../daemon/listen.js';
import { FastCgiServer, parseWebServerAddrs } from '../daemon/server.js';
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
  });
  const appSpec = positionals[0];
  if (appSpec === undefined || positionals.length > 1) {
    throw new TsgiError('TSGI_USAGE', 'tsgi: fastcgi needs exactly one app module; see tsgi --help');
  }
  let address: ListenAddress;
  const systemd = systemdSocket(process.env);
  if (values.listen !== undefined) {
    address = parseListenAddress(values.listen);
  } else if (systemd !== undefined) {
    address = systemd;
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
  if (front !== undefined && (front.kind !== 'tcp' || address.kind === 'fd')) {
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
  const log = (line: string): void => void process.stderr.write(line);
  const app = await loadApp(appSpec, type);
  const server = new FastCgiServer({
    app,
    log,
    scriptName,
    ...limits,
    multiplex: values['no-multiplex'] !== true,
    webServerAddrs,
    // A process manager that hands us a socket on fd 0 (mod_fcgid, spawn-fcgi) may start several.
    multiprocess: address.kind === 'fd' && systemd === undefined,
  });
  const bound = await server.listen(address, socketMode);
  const targets: Stoppable[] = [server];
  if (front !== undefined && front.kind === 'tcp' && bound.kind !== 'fd') {
    const upstream = bound.kind === 'tcp' ? { host: bound.host, port: bound.port } : { path: bound.path };
    const http = await startHttpFront({ listen: { host: front.host, port: front.port }, upstream, log }).catch((error: unknown) => {
      throw listenError(front, error);
    });
    log(
      `tsgi: development HTTP front on http://${formatListenAddress({ ...front, port: http.address.port })}/ ` +
        `-> fastcgi ${formatListenAddress(bound)} (development only: put nginx or Apache in front in production)\n`,
    );
    targets.push({ close: () => http.close(), destroy: () => void http.close() });
  }
  // Exit once stopped: the app may hold the event loop open for ever (a module-level setInterval).
  stopOnSignals(targets, log, graceMs, { exit: (code) => process.exit(code) });
}

/**
 * The first socket systemd passed us (socket activation: LISTEN_PID is our pid, LISTEN_FDS >= 1;
 * the sockets start at fd 3), or undefined when we were not socket-activated.
 */
function systemdSocket(env: NodeJS.ProcessEnv): ListenAddress | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !(Number(env.LISTEN_FDS) >= 1)) return undefined;
  return { kind: 'fd', fd: 3 };
}
