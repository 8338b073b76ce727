// The tsgi command: `tsgi fastcgi|cgi <app>`, or `tsgi <app>` detecting how it was started.

import { spawn } from 'node:child_process';
import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AppType } from '../adapters/detect.js';
import { runCgi } from '../cgi/runner.js';
import { encodeCgiHead } from '../core/cgi-response.js';
import { TsgiError } from '../core/errors.js';
import { startHttpFront } from '../daemon/http-front.js';
import { stopOnSignals, type Stoppable } from '../daemon/lifecycle.js';
import { DEFAULT_SOCKET_MODE, formatListenAddress, parseListenAddress, stdinIsSocket, type ListenAddress } from '../daemon/listen.js';
import { FastCgiServer, parseWebServerAddrs } from '../daemon/server.js';
import { startDevServer } from '../dev/server.js';
import { loadApp } from './load-app.js';

const HELP = `tsgi - host a TSGI app behind a web server, over FastCGI or CGI

Usage:
  tsgi <app>                 detect how we were started: a listening socket on fd 0
                             (mod_fcgid, spawn-fcgi, lighttpd) -> FastCGI on it;
                             GATEWAY_INTERFACE set (a CGI request) -> CGI; else this help
  tsgi fastcgi <app> [opts]  run the FastCGI daemon (responder role)
  tsgi cgi <app>             serve one CGI request (RFC 3875) from the environment and stdin
  tsgi dev <app> [opts]      development-only HTTP server hosting the app in-process
  tsgi --help | --version

<app> is path/to/module.mjs, optionally with #exportName. The default export (or 'app') is
a TSGI app (environ, startResponse) => body, a fetch handler or an object with fetch()
(Hono), or a node:http app (Express, Koa, Fastify, an http.Server); see docs/adapters.md.
  --type tsgi|fetch|node    say which, where detection cannot tell (e.g. (req, res) functions)

FastCGI options:
  --listen ADDR        HOST:PORT, PORT (on 127.0.0.1), /path/to.sock or fd:N (default: a
                       systemd socket (LISTEN_FDS), else the listening socket on fd 0)
  --socket-mode MODE   octal permissions of a unix socket we create (default 0660)
  --script-name PATH   the app's mount point: rebuild SCRIPT_NAME/PATH_INFO from the
                       whole path (default: keep the web server's split)
  --max-conns N        most connections at once, advertised as FCGI_MAX_CONNS (default 1024)
  --max-body-bytes N   larger request bodies get 413 before the app runs (default 1 GiB)
  --grace-ms MS        how long a graceful stop (SIGTERM) waits for requests (default 30000)
  --no-multiplex       refuse concurrent requests on one connection (FCGI_CANT_MPX_CONN)
  --max-requests-per-conn N   live requests per connection when multiplexing (default 100)
  --idle-timeout-ms MS        close a connection idle this long (default 120000)
  --request-timeout-ms MS     drop a connection whose request waits this long for params or
                              body bytes (default 60000)
  --web-server-addrs A,B      only these addresses may connect (default: FCGI_WEB_SERVER_ADDRS)
  --http HOST:PORT     also start a development-only HTTP front forwarding to the daemon

dev options:
  --host HOST          interface to listen on (default 127.0.0.1)
  --port N             port (default 8000)
  --script-name PATH   mount the app below PATH
  --watch              restart when a file next to the app changes

CGI mode reads no options from the command line (a web server may put the query string
there); it reads TSGI_SCRIPT_NAME and TSGI_TYPE from the environment instead.
`;

/** Runs the command line; resolves when the command has set up its work (servers keep running). */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  // httpoxy: nothing the app loads may see a client's "Proxy:" header as its HTTP proxy.
  delete env.HTTP_PROXY;

  if (env.GATEWAY_INTERFACE !== undefined) {
    // A CGI request. Apache passes a query string without "=" as argv (RFC 3875 §4.4): read nothing
    // but the fixed script path, never options.
    const app = argv[0] === 'cgi' ? argv[1] : argv[0];
    await cgi(app, env);
    return;
  }

  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === 'cgi') {
    await cgi(rest[0], env);
    return;
  }
  if (command === 'fastcgi') {
    await fastcgi(rest);
    return;
  }
  if (command === 'dev') {
    await dev(rest);
    return;
  }
  if (command.startsWith('-')) throw new TsgiError('TSGI_USAGE', `tsgi: unknown option ${command}; see tsgi --help`);
  if (stdinIsSocket()) {
    await fastcgi([command, ...rest]);
    return;
  }
  process.stderr.write(`tsgi: not started by a web server (no listening socket on fd 0, no GATEWAY_INTERFACE)\n\n`);
  process.stdout.write(HELP);
  process.exitCode = 2;
}

async function cgi(appSpec: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  // Under CGI, stdout is the response: console.log from the app goes to the error log instead.
  const toStderr = new Console({ stdout: process.stderr, stderr: process.stderr });
  console.log = toStderr.log.bind(toStderr);
  console.info = toStderr.info.bind(toStderr);
  console.debug = toStderr.debug.bind(toStderr);
  try {
    if (appSpec === undefined) throw new TsgiError('TSGI_USAGE', 'tsgi: cgi needs the path of the app module');
    const app = await loadApp(appSpec, appType(env.TSGI_TYPE, 'TSGI_TYPE'));
    process.exitCode = await runCgi(app, { scriptName: env.TSGI_SCRIPT_NAME });
  } catch (error) {
    // The web server turns a silent exit into its own error page; send a proper 500 instead.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.stdout.write(encodeCgiHead('500 Internal Server Error', [['Content-Type', 'text/plain']]));
    process.stdout.write('Internal Server Error\n');
    process.exitCode = 1;
  }
  // One request per process: once the response is flushed, exit, even if the app left timers or a
  // database pool that would keep the process (and the web server's request) waiting.
  process.stdout.write('', () => process.exit());
}

async function fastcgi(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      'socket-mode': { type: 'string' },
      'script-name': { type: 'string' },
      'max-conns': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'grace-ms': { type: 'string' },
      'no-multiplex': { type: 'boolean', default: false },
      'max-requests-per-conn': { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'web-server-addrs': { type: 'string' },
      http: { type: 'string' },
      type: { type: 'string' },
    },
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
  const log = (line: string): void => void process.stderr.write(line);
  const app = await loadApp(appSpec, appType(values.type, '--type'));
  const server = new FastCgiServer({
    app,
    log,
    scriptName: values['script-name'],
    maxConns: positiveInt(values['max-conns'], '--max-conns', 1024),
    maxBodyBytes: positiveInt(values['max-body-bytes'], '--max-body-bytes', 1024 ** 3),
    multiplex: !values['no-multiplex'],
    maxRequestsPerConnection: positiveInt(values['max-requests-per-conn'], '--max-requests-per-conn', 100),
    idleTimeoutMs: positiveInt(values['idle-timeout-ms'], '--idle-timeout-ms', 120_000),
    requestTimeoutMs: positiveInt(values['request-timeout-ms'], '--request-timeout-ms', 60_000),
    webServerAddrs: parseWebServerAddrs(values['web-server-addrs'] ?? process.env.FCGI_WEB_SERVER_ADDRS),
    // A process manager that hands us a socket on fd 0 (mod_fcgid, spawn-fcgi) may start several.
    multiprocess: address.kind === 'fd' && systemd === undefined,
  });
  const bound = await server.listen(address, socketMode);
  const targets: Stoppable[] = [server];
  if (values.http !== undefined) {
    const front = parseListenAddress(values.http);
    if (front.kind !== 'tcp' || bound.kind === 'fd') {
      throw new TsgiError('TSGI_USAGE', '--http needs HOST:PORT and a daemon --listen address it can connect to');
    }
    const upstream = bound.kind === 'tcp' ? { host: bound.host, port: bound.port } : { path: bound.path };
    const http = await startHttpFront({ listen: { host: front.host, port: front.port }, upstream, log });
    log(
      `tsgi: development HTTP front on http://${formatListenAddress({ ...front, port: http.address.port })}/ ` +
        `-> fastcgi ${formatListenAddress(bound)} (development only: put nginx or Apache in front in production)\n`,
    );
    targets.push({ close: () => http.close(), destroy: () => void http.close() });
  }
  stopOnSignals(targets, log, positiveInt(values['grace-ms'], '--grace-ms', 30_000));
}

async function dev(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8000' },
      'script-name': { type: 'string' },
      type: { type: 'string' },
      watch: { type: 'boolean', default: false },
    },
  });
  const appSpec = positionals[0];
  if (appSpec === undefined || positionals.length > 1) {
    throw new TsgiError('TSGI_USAGE', 'tsgi: dev needs exactly one app module; see tsgi --help');
  }
  if (values.watch) {
    // ESM modules cannot be unloaded: restart the whole process on change, as `node --watch` does.
    const self = fileURLToPath(import.meta.url);
    const child = spawn(
      process.execPath,
      ['--watch-path', dirname(resolve(appSpec)), self, 'dev', ...args.filter((a) => a !== '--watch')],
      { stdio: 'inherit' },
    );
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
    child.on('exit', (code) => (process.exitCode = code ?? 1));
    return;
  }
  const log = (line: string): void => void process.stderr.write(line);
  const app = await loadApp(appSpec, appType(values.type, '--type'));
  const server = await startDevServer({
    app,
    host: values.host,
    port: Number(values.port),
    scriptName: values['script-name'] ?? '',
    log,
  });
  log(`tsgi: development server on ${server.url} (development only: deploy behind nginx or Apache)\n`);
  stopOnSignals([{ close: () => server.close(), destroy: () => void server.close() }], log, 5000);
}

/**
 * The first socket systemd passed us (socket activation: LISTEN_PID is our pid, LISTEN_FDS >= 1;
 * the sockets start at fd 3), or undefined when we were not socket-activated.
 */
function systemdSocket(env: NodeJS.ProcessEnv): ListenAddress | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !(Number(env.LISTEN_FDS) >= 1)) return undefined;
  return { kind: 'fd', fd: 3 };
}

function appType(value: string | undefined, option: string): AppType | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'tsgi' || value === 'fetch' || value === 'node') return value;
  throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${option} ${value}; use tsgi, fetch or node`);
}

function positiveInt(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${option} ${text}`);
  return value;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return `tsgi ${pkg.version}`;
  } catch {
    return 'tsgi (version unknown)';
  }
}

main(process.argv.slice(2), process.env).catch((error: unknown) => {
  process.stderr.write(`${error instanceof TsgiError ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  // Exit now: an app module that failed to load may have left handles open (timers, a listener).
  process.exit(1);
});
