// The backends under test: each is ONE server (one process, or php-fpm's one pool) serving the same
// app, reached by nginx one way.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPS, CLI } from './paths.mjs';
import { startChild, waitForOutput } from './proc.mjs';

const GO_APP = join(APPS, 'go-fcgi/main.go');
const PHP_APP = join(APPS, 'php/app.php');

/**
 * php-fpm's benign notices (start, stop): not complaints. Anything else it logs (a WARNING about a
 * slow or killed worker, an ERROR) still is.
 */
const PHP_FPM_NOTICES = /NOTICE: (fpm is running|ready to handle connections|systemd monitor interval|Terminating|exiting, bye-bye|Finishing|\[pool bench\] child \d+ (started|exited))/;

/**
 * id: what `--only` names; protocol: how nginx talks to it; keepAlive: whether nginx keeps upstream
 * connections open. `command(port, nodeArgs)` gives the Node process to start; `runtime` ('go',
 * 'php-fpm') marks a peer that runs another program instead, prepared once per run by
 * {@link prepareBackends}. `ready` is the line it prints on stderr once it listens; `benign`, lines
 * it prints that are not complaints; `fastcgiParams`, extra params nginx sends it.
 */
export const VARIANTS = [
  {
    id: 'tsgi',
    label: 'tsgi daemon, fastcgi_pass, keepalive 32 + fastcgi_keep_conn on',
    protocol: 'fastcgi',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, CLI, 'fastcgi', join(APPS, 'tsgi-app.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /tsgi: fastcgi listening on/,
  },
  {
    id: 'tsgi-nokeep',
    label: 'tsgi daemon, fastcgi_pass, a connection per request',
    protocol: 'fastcgi',
    keepAlive: false,
    command: (port, nodeArgs = []) => [...nodeArgs, CLI, 'fastcgi', join(APPS, 'tsgi-app.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /tsgi: fastcgi listening on/,
  },
  {
    id: 'tsgi-workers',
    label: 'tsgi daemon with --workers 2 (a primary and two workers on one socket), as tsgi',
    protocol: 'fastcgi',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, CLI, 'fastcgi', join(APPS, 'tsgi-app.mjs'), '--listen', `127.0.0.1:${port}`, '--workers', '2'],
    ready: /tsgi: fastcgi listening on .* with 2 worker/,
  },
  {
    id: 'node-http',
    label: 'node:http, proxy_pass HTTP/1.1, keepalive 32',
    protocol: 'http',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'node-http.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: node-http listening on/,
  },
  {
    id: 'node-fastcgi',
    label: 'node-fastcgi 2.0.0, fastcgi_pass, keepalive 32 + fastcgi_keep_conn on',
    protocol: 'fastcgi',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'node-fastcgi.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: node-fastcgi listening on/,
  },
  {
    id: 'node-fastcgi-nokeep',
    label: 'node-fastcgi 2.0.0, fastcgi_pass, a connection per request',
    protocol: 'fastcgi',
    keepAlive: false,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'node-fastcgi.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: node-fastcgi listening on/,
  },
  {
    id: 'fastcgi-floor',
    label: 'the floor: a bare Node FastCGI responder (framing only, prebuilt answers; bench/apps/fastcgi-floor.mjs), keepalive 32 + keep_conn',
    protocol: 'fastcgi',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'fastcgi-floor.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: fastcgi-floor listening on/,
  },
  {
    id: 'fastcgi-floor-nokeep',
    label: 'the same floor, a connection per request',
    protocol: 'fastcgi',
    keepAlive: false,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'fastcgi-floor.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: fastcgi-floor listening on/,
  },
  {
    id: 'tsgi-express',
    label: 'the Express app in the tsgi daemon (node:http adapter), fastcgi_pass, keepalive 32 + keep_conn',
    protocol: 'fastcgi',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, CLI, 'fastcgi', join(APPS, 'express-app.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /tsgi: fastcgi listening on/,
  },
  {
    id: 'express-http',
    label: 'the same Express app on node:http, proxy_pass HTTP/1.1, keepalive 32',
    protocol: 'http',
    keepAlive: true,
    command: (port, nodeArgs = []) => [...nodeArgs, join(APPS, 'express-http.mjs'), '--listen', `127.0.0.1:${port}`],
    ready: /bench: express-http listening on/,
  },
  {
    id: 'go-fcgi',
    label: 'Go net/http/fcgi (stdlib), fastcgi_pass, keepalive 32 + fastcgi_keep_conn on',
    protocol: 'fastcgi',
    keepAlive: true,
    runtime: 'go',
    ready: /bench: go-fcgi listening on/,
  },
  {
    id: 'go-fcgi-nokeep',
    label: 'Go net/http/fcgi (stdlib), fastcgi_pass, a connection per request',
    protocol: 'fastcgi',
    keepAlive: false,
    runtime: 'go',
    ready: /bench: go-fcgi listening on/,
  },
  {
    id: 'php-fpm',
    label: 'PHP-FPM, pm static, fastcgi_pass, keepalive 32 + fastcgi_keep_conn on',
    protocol: 'fastcgi',
    keepAlive: true,
    runtime: 'php-fpm',
    ready: /ready to handle connections/,
    benign: PHP_FPM_NOTICES,
    fastcgiParams: [['SCRIPT_FILENAME', PHP_APP]],
  },
  {
    id: 'php-fpm-nokeep',
    label: 'PHP-FPM, pm static, fastcgi_pass, a connection per request',
    protocol: 'fastcgi',
    keepAlive: false,
    runtime: 'php-fpm',
    ready: /ready to handle connections/,
    benign: PHP_FPM_NOTICES,
    fastcgiParams: [['SCRIPT_FILENAME', PHP_APP]],
  },
];

/** Pairs whose req/s ratio the report prints: [numerator, denominator]. */
export const RATIOS = [
  ['tsgi', 'node-http'],
  ['tsgi', 'node-fastcgi'],
  ['tsgi-nokeep', 'node-fastcgi-nokeep'],
  ['tsgi', 'go-fcgi'],
  ['tsgi-nokeep', 'go-fcgi-nokeep'],
  ['tsgi', 'php-fpm'],
  ['tsgi-nokeep', 'php-fpm-nokeep'],
  ['tsgi', 'tsgi-nokeep'],
  ['tsgi-workers', 'tsgi'],
  ['tsgi-express', 'express-http'],
  ['tsgi', 'fastcgi-floor'],
  ['tsgi-nokeep', 'fastcgi-floor-nokeep'],
  ['fastcgi-floor', 'node-http'],
];

/**
 * PHP-FPM workers without keep-alive: a fixed pool of 2 per CPU. PHP runs one request per process,
 * so the pool is its concurrency. On the 2-CPU bench machine (nginx and wrk on the same CPUs),
 * single 3 s runs of GET /hello at 32/128 connections gave 7.9k/7.3k req/s with 2 workers,
 * 9.4k/10.1k with 4, 9.3k/10.1k with 8 and 8.9k/8.5k with 16 (uploads: 680–820 for all): 4 is the
 * smallest pool at PHP's best, and each further worker only costs memory.
 */
export const PHP_FPM_CHILDREN_PER_CPU = 2;

function onPath(name) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, name)));
}

function firstLine(command, args, env) {
  const result = spawnSync(command, args, { encoding: 'utf8', env, timeout: 10_000 });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.split('\n')[0].trim() : undefined;
}

/** A temporary directory removed when the harness exits, even when interrupted. */
function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Builds bench/apps/go-fcgi once into a temporary directory: standard library only, so GOPATH mode
 * (GO111MODULE=off) with GOPROXY=off can never download anything; GOCACHE and GOPATH are private to
 * the run. `GO` picks another toolchain.
 */
function prepareGo(log) {
  const go = process.env.GO ?? 'go';
  if (!(go.includes('/') ? existsSync(go) : onPath(go))) return { note: 'go not installed (apt-get install golang-go); not measured' };
  const dir = tempDir('tsgi-bench-go-');
  const binary = join(dir, 'go-fcgi');
  const env = {
    ...process.env,
    GOCACHE: join(dir, 'cache'),
    GOPATH: join(dir, 'gopath'),
    GO111MODULE: 'off',
    GOPROXY: 'off',
    GOFLAGS: '',
    CGO_ENABLED: '0',
  };
  const version = firstLine(go, ['version'], env);
  log(`bench: building bench/apps/go-fcgi with ${version ?? go}\n`);
  const build = spawnSync(go, ['build', '-o', binary, GO_APP], { encoding: 'utf8', env, timeout: 180_000 });
  if (build.status !== 0) {
    return { note: `go build failed (${build.status ?? build.signal}); not measured: ${`${build.stdout}${build.stderr}`.trim().split('\n')[0]}` };
  }
  return {
    version,
    binary,
    describe: () => 'one process, GOMAXPROCS left at Go\'s default (printed in its ready line)',
    spawn: (variant, port) => ({ command: binary, args: ['--listen', `127.0.0.1:${port}`], env: process.env }),
  };
}

/**
 * Finds php-fpm (`PHP_FPM`, else php-fpm or php-fpmX.Y on the PATH or in /usr/sbin) and writes a
 * minimal php.ini: opcache on (as in any production setup; without it every request recompiles the
 * script), no X-Powered-By header, and enable_post_data_reading off so /upload streams php://input
 * instead of PHP reading the whole body first. PHP_INI_SCAN_DIR is emptied at start so the
 * distribution's conf.d (a dozen extensions) stays out.
 */
function preparePhpFpm(log, { connections, phpChildren }) {
  const names = ['php-fpm', 'php-fpm8.4', 'php-fpm8.3', 'php-fpm8.2', 'php-fpm8.1', 'php-fpm8.0'];
  const binary =
    process.env.PHP_FPM ??
    names.map((name) => (onPath(name) ? name : existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : undefined)).find(Boolean);
  if (binary === undefined || (binary.includes('/') && !existsSync(binary))) {
    return { note: 'php-fpm not installed (apt-get install php-fpm); not measured' };
  }
  const dir = tempDir('tsgi-bench-php-fpm-');
  const env = { ...process.env, PHP_INI_SCAN_DIR: '' };
  const ini = join(dir, 'php.ini');
  const settings = ['expose_php = Off', 'enable_post_data_reading = Off', 'output_buffering = 4096'];
  writeFileSync(ini, ['zend_extension = opcache.so', 'opcache.enable = 1', ...settings, ''].join('\n'));
  const modules = spawnSync(binary, ['-c', ini, '-m'], { encoding: 'utf8', env, timeout: 10_000 });
  if (modules.status !== 0) return { note: `${binary} -m failed (${modules.status ?? modules.signal}); not measured` };
  const opcache = /Zend OPcache/.test(modules.stdout);
  if (!opcache) writeFileSync(ini, [...settings, ''].join('\n'));
  const version = firstLine(binary, ['-c', ini, '-v'], env);
  log(`bench: ${version ?? binary}${opcache ? ', opcache on' : ', WITHOUT opcache (not found)'}\n`);
  const nokeepChildren = phpChildren ?? PHP_FPM_CHILDREN_PER_CPU * availableParallelism();
  // With fastcgi_keep_conn on, a php-fpm worker serves one connection until nginx closes it, and
  // nginx opens a connection per request in flight (up to the client connections), so with a
  // smaller pool a request can sit on a connection no worker accepts until nginx drops some other
  // idle one: 32 workers under 128 connections gave GET /hello a p99 of 6.6 s (55 ms under 32).
  // The keep-alive pool therefore gets a worker per client connection (memory: see the report).
  const keepChildren = Math.max(nokeepChildren, ...connections);
  const childrenOf = (variant) => (variant.keepAlive ? keepChildren : nokeepChildren);
  return {
    version: `${version}${opcache ? ', opcache' : ', no opcache'}`,
    binary,
    opcache,
    children: { keepAlive: keepChildren, noKeepAlive: nokeepChildren },
    describe: (variant) => `pm static, ${childrenOf(variant)} workers`,
    spawn(variant, port) {
      const conf = join(dir, `${variant.id}-${port}.conf`);
      writeFileSync(
        conf,
        [
          '; Written by bench/lib/backends.mjs for one benchmark run.',
          '[global]',
          // php-fpm opens this file in any case, but with -F -O it logs to stderr instead (where the
          // harness reads the ready line). /proc/self/fd/2 does not work: Node's stdio pipes are
          // sockets, which open(2) through /proc refuses (ENXIO).
          `error_log = ${join(dir, `${variant.id}-${port}.log`)}`,
          'log_level = notice',
          'daemonize = no',
          `pid = ${join(dir, `${variant.id}-${port}.pid`)}`,
          '[bench]',
          // As root, php-fpm wants a user for its workers; root itself needs -R (nginx runs as root here too).
          ...(process.getuid?.() === 0 ? ['user = root', 'group = root'] : []),
          `listen = 127.0.0.1:${port}`,
          // Linux's somaxconn since 5.4 is 4096; php-fpm's own default is 511. Queued connections
          // wait here while every worker is busy.
          'listen.backlog = 4096',
          'pm = static',
          `pm.max_children = ${childrenOf(variant)}`,
          // Workers are never recycled during a run (a respawn would be start-up cost in the figures).
          'pm.max_requests = 0',
          'catch_workers_output = yes',
          'decorate_workers_output = no',
          '',
        ].join('\n'),
      );
      // -F: foreground; -O: log to stderr although it is not a tty; -R: allowed to run as root.
      const args = ['-F', '-O', '-y', conf, '-c', ini, ...(process.getuid?.() === 0 ? ['-R'] : [])];
      return { command: binary, args, env };
    },
  };
}

/** What prepareBackends found per runtime, so startBackend (and profile.mjs) can use it. */
const runtimes = new Map();

/**
 * Prepares the non-Node peers the selected variants need (builds the Go app, writes php-fpm's
 * php.ini) and drops the variants whose software is missing or failed to build, with a note each.
 * `connections` sizes php-fpm's keep-alive pool, `phpChildren` (default: 2 per CPU) the other one.
 * @returns {{ variants, skipped: { id, note }[], runtimes: Record<string, object> }}
 */
export function prepareBackends(variants, { log = () => {}, connections = [128], phpChildren } = {}) {
  const usable = [];
  const skipped = [];
  for (const variant of variants) {
    const runtime = variant.runtime === undefined ? undefined : prepareRuntime(variant.runtime, { log, connections, phpChildren });
    if (runtime?.note !== undefined) {
      skipped.push({ id: variant.id, note: runtime.note });
      continue;
    }
    usable.push(runtime === undefined ? variant : { ...variant, setup: runtime.describe(variant) });
  }
  const found = {};
  for (const [name, runtime] of runtimes) {
    found[name] = runtime.note ?? { version: runtime.version, binary: runtime.binary, ...(runtime.children ? { children: runtime.children } : {}) };
  }
  return { variants: usable, skipped, runtimes: found };
}

function prepareRuntime(name, options) {
  if (!runtimes.has(name)) runtimes.set(name, name === 'go' ? prepareGo(options.log) : preparePhpFpm(options.log, options));
  return runtimes.get(name);
}

/** Starts a variant's backend on `port`; resolves once it printed its ready line. */
export async function startBackend(variant, port, { nodeArgs = [], env = process.env } = {}) {
  let proc;
  if (variant.runtime === undefined) {
    // NODE_ENV as tsgi sets it for a deployed app, for every Node backend alike (Express reads it).
    proc = startChild(variant.id, process.execPath, variant.command(port, nodeArgs), { env: { NODE_ENV: 'production', ...env } });
  } else {
    const runtime = prepareRuntime(variant.runtime, { log: (line) => process.stderr.write(line), connections: [128] });
    if (runtime.note !== undefined) throw new Error(`bench: ${variant.id}: ${runtime.note}`);
    const spawn = runtime.spawn(variant, port);
    // php-fpm's master stops its workers on SIGTERM; a SIGKILL at exit would orphan them.
    proc = startChild(variant.id, spawn.command, spawn.args, { env: spawn.env, exitSignal: 'SIGTERM' });
  }
  await waitForOutput(proc, variant.ready);
  return proc;
}
