// The tsgi command: `tsgi fastcgi|cgi <app>`, or `tsgi <app>` detecting how it was started.

import { readFileSync } from 'node:fs';
import { FdBody } from '../cgi/body.js';
import { FdOutput } from '../cgi/output.js';
import { runCgi } from '../cgi/runner.js';
import { encodeCgiHead } from '../core/cgi-response.js';
import { TsgiError } from '../core/errors.js';
import { loadApp } from './load-app.js';
import { appType } from './options.js';

const HELP = `tsgi - host a TSGI app behind a web server, over FastCGI or CGI

Usage:
  tsgi <app>                 detect how we were started: a listening socket on fd 0
                             (mod_fcgid, spawn-fcgi, lighttpd) or from systemd -> FastCGI
                             on it; GATEWAY_INTERFACE set (a CGI request) -> CGI; else this help
  tsgi fastcgi <app> [opts]  run the FastCGI daemon (responder, authorizer and filter roles)
  tsgi cgi <app>             serve one CGI request (RFC 3875) from the environment and stdin
  tsgi dev <app> [opts]      development-only HTTP server hosting the app in-process
  tsgi --help | --version     (also tsgi fastcgi --help, tsgi dev --help)

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
  --grace-ms MS        how long a graceful stop (SIGTERM) waits for requests, then the
                       app's close() (default 30000)
  --no-multiplex       refuse concurrent requests on one connection (FCGI_CANT_MPX_CONN)
  --max-requests-per-conn N   live requests per connection when multiplexing (default 100)
  --idle-timeout-ms MS        close a connection idle this long, or whose web server takes
                              no response bytes for this long (default 120000)
  --request-timeout-ms MS     drop a connection whose request waits this long for params or
                              body bytes (default 60000)
  --web-server-addrs A,B      only these addresses may connect (default: FCGI_WEB_SERVER_ADDRS)
  --workers N|auto     N worker processes accepting on the socket, under a primary that
                       replaces one that dies (auto: one per CPU); SIGHUP reloads them
                       gracefully (new app code), SIGTERM stops them (default: one process)
  --max-requests N     with --workers: replace a worker once it has served N requests
  --http HOST:PORT     also start a development-only HTTP front forwarding to the daemon
                       (the app's tsgi.errors then also go to the daemon's stderr)

dev options:
  --host HOST          interface to listen on (default 127.0.0.1)
  --port N             port (default 8000)
  --script-name PATH   mount the app below PATH
  --watch              restart when a file under the app's directory changes, however
                       saved (dotfiles, name~ backups and node_modules aside)

FastCGI and CGI run the app with NODE_ENV=production unless NODE_ENV is set (frameworks
show their development error pages otherwise); tsgi dev leaves it alone.

CGI mode reads no options from the command line (a web server may put the query string
there); it reads TSGI_SCRIPT_NAME and TSGI_TYPE from the environment instead.
`;

/**
 * What the bin (src/cli/bin.ts, dist/cli.cjs) gives this bundle: it compiles dist/cli-core.cjs
 * through a code cache with vm, where the bundle's code cannot call `import()` itself.
 */
export interface CliHost {
  /** The bin's absolute path: the command `tsgi dev --watch` re-runs. */
  bin: string;
  /** `import()` from the bin's module: an absolute file URL, or a file of dist/ (`./cli-fastcgi.js`). */
  importModule(specifier: string): Promise<unknown>;
  /** Keep what V8 compiled for the next CGI process (src/cli/compile-cache.ts); never throws. */
  saveCompileCache(): void;
}

/** Runs the command line; resolves when the command has set up its work (servers keep running). */
export async function main(argv: string[], env: NodeJS.ProcessEnv, host: CliHost): Promise<void> {
  // httpoxy: nothing the app loads may see a client's "Proxy:" header as its HTTP proxy.
  delete env.HTTP_PROXY;

  if (env.GATEWAY_INTERFACE !== undefined) {
    // A CGI request. Apache passes a query string without "=" as argv (RFC 3875 §4.4): read nothing
    // but the fixed script path, never options.
    const app = argv[0] === 'cgi' ? argv[1] : argv[0];
    await cgi(app, env, host);
    return;
  }

  const [command, ...rest] = argv;
  // `tsgi fastcgi --help` too: every subcommand's options are in the one help text.
  const subcommand = command === 'fastcgi' || command === 'dev' || command === 'cgi';
  if (command === undefined || isHelp(command) || command === 'help' || (subcommand && rest.some(isHelp))) {
    process.stdout.write(HELP);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === 'cgi') {
    // Not started by a web server (that case is above): a missing app is a usage mistake, not a 500.
    if (rest[0] === undefined) throw new TsgiError('TSGI_USAGE', 'tsgi: cgi needs the path of the app module; see tsgi --help');
    await cgi(rest[0], env, host);
    return;
  }
  // The daemon and the dev server are loaded on demand (separate files of the build, tsup.config.ts):
  // a CGI request, which starts a process per request, never compiles their code or loads the
  // node: built-ins they need.
  if (command === 'fastcgi') {
    productionByDefault(env);
    await (await loadFastcgi(host)).fastcgiCommand(rest);
    return;
  }
  if (command === 'dev') {
    await (await loadCommand<typeof import('./dev.js')>(host.importModule('./cli-dev.js'))).devCommand(rest, host.bin);
    return;
  }
  if (command.startsWith('-')) throw new TsgiError('TSGI_USAGE', `tsgi: unknown option ${command}; see tsgi --help`);
  const { startedWithSocket, fastcgiCommand } = await loadFastcgi(host);
  if (startedWithSocket()) {
    productionByDefault(env);
    await fastcgiCommand([command, ...rest]);
    return;
  }
  process.stderr.write(`tsgi: not started by a web server (no listening socket on fd 0 or from systemd, no GATEWAY_INTERFACE)\n\n`);
  process.stdout.write(HELP);
  process.exitCode = 2;
}

function isHelp(arg: string): boolean {
  return arg === '--help' || arg === '-h';
}

/**
 * Deployed (FastCGI, CGI), an app runs as in production unless told otherwise: NODE_ENV unset
 * becomes `production` before the app loads. Frameworks key on it; Express, for one, otherwise
 * answers errors with its development page, stack trace and file paths included, to the client.
 * `tsgi dev` leaves it alone.
 */
function productionByDefault(env: NodeJS.ProcessEnv): void {
  if (env.NODE_ENV === undefined || env.NODE_ENV === '') env.NODE_ENV = 'production';
}

async function cgi(appSpec: string | undefined, env: NodeJS.ProcessEnv, host: CliHost): Promise<void> {
  productionByDefault(env);
  // Under CGI, stdout is the response: console.log from the app goes to the error log instead. The
  // Console (and process.stderr under it) is made on first use: opening a stdio stream costs start-up.
  let toStderr: Console | undefined;
  const stderrConsole = (): Console => (toStderr ??= new console.Console({ stdout: process.stderr, stderr: process.stderr }));
  console.log = (...args: unknown[]) => stderrConsole().log(...args);
  console.info = (...args: unknown[]) => stderrConsole().info(...args);
  console.debug = (...args: unknown[]) => stderrConsole().debug(...args);
  try {
    if (appSpec === undefined) throw new TsgiError('TSGI_USAGE', 'tsgi: cgi needs the path of the app module');
    const app = await loadApp(appSpec, appType(env.TSGI_TYPE, 'TSGI_TYPE'), undefined, { importModule: host.importModule });
    process.exitCode = await runCgi(app, { scriptName: env.TSGI_SCRIPT_NAME });
    // Only after a request was served: the cache then holds the code every request runs.
    host.saveCompileCache();
  } catch (error) {
    // The web server turns a silent exit into its own error page; send a proper 500 instead.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    const output = new FdOutput(1, () => process.stdout, () => {});
    output.write(encodeCgiHead('500 Internal Server Error', [['Content-Type', 'text/plain']]));
    output.write(Buffer.from('Internal Server Error\n'));
    await output.flush();
    process.exitCode = 1;
  }
  // One request per process: the response is out (runCgi flushed it), so exit, even if the app left
  // timers or a database pool that would keep the process (and the web server's request) waiting.
  if (FdBody.readsInFlight > 0) {
    // The front server stopped sending the body but keeps stdin open, and the read waiting for it
    // would hold process.exit() until the server times out: end the process at once instead.
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit();
}

/**
 * TsgiError classes whose messages are printed alone, without a stack: this module's, and the one
 * each loaded command module brings (in the build, those bundle their own copy of the core).
 */
const tsgiErrors: Array<typeof TsgiError> = [TsgiError];

/** The daemon's chunk (dist/cli-fastcgi.js: src/cli/fastcgi.ts, built apart by tsup.config.ts). */
function loadFastcgi(host: CliHost): Promise<typeof import('./fastcgi.js')> {
  return loadCommand<typeof import('./fastcgi.js')>(host.importModule('./cli-fastcgi.js'));
}

async function loadCommand<M extends { TsgiError: typeof TsgiError }>(loading: Promise<unknown>): Promise<M> {
  const module = (await loading) as M;
  if (!tsgiErrors.includes(module.TsgiError)) tsgiErrors.push(module.TsgiError);
  return module;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return `tsgi ${pkg.version}`;
  } catch {
    return 'tsgi (version unknown)';
  }
}

/** Runs the command line of this process; called by the bin once it has compiled this bundle. */
export function run(host: CliHost): void {
  main(process.argv.slice(2), process.env, host).catch(exitWithError);
}

function exitWithError(error: unknown): never {
  const expected = tsgiErrors.some((type) => error instanceof type);
  process.stderr.write(`${expected && error instanceof Error ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  // Exit now: an app module that failed to load may have left handles open (timers, a listener).
  // A mistake on the command line exits 2, as the help does when not started by a web server.
  const code = (error as { code?: unknown }).code;
  process.exit(expected && (code === 'TSGI_USAGE' || code === 'TSGI_BAD_LISTEN') ? 2 : 1);
}
