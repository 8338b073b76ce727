// The backends under test: each is ONE process serving the same app, reached by nginx one way.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { APPS, CLI } from './paths.mjs';
import { startChild, waitForOutput } from './proc.mjs';

/**
 * id: what `--only` names; protocol: how nginx talks to it; keepAlive: whether nginx keeps upstream
 * connections open. `command(port, nodeArgs)` gives the process to start; `ready` is the line it
 * prints on stderr once it listens.
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
];

/** Peers the issue names that need software this harness does not install; reported as skipped. */
export function optionalPeers() {
  const onPath = (name) => (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, name)));
  const phpFpm = ['php-fpm', 'php-fpm8.2', 'php-fpm8.3', 'php-fpm8.1'].find((name) => onPath(name) || existsSync(`/usr/sbin/${name}`));
  return [
    {
      id: 'php-fpm',
      found: phpFpm,
      note: phpFpm
        ? `${phpFpm} is installed but the harness has no PHP-FPM pool config yet; not measured`
        : 'php-fpm not installed; not measured',
    },
    {
      id: 'go-fcgi',
      found: onPath('go') ? 'go' : undefined,
      note: onPath('go') ? 'go is installed but the harness has no net/http/fcgi app yet; not measured' : 'go not installed; not measured',
    },
  ];
}

/** Pairs whose req/s ratio the report prints: [numerator, denominator]. */
export const RATIOS = [
  ['tsgi', 'node-http'],
  ['tsgi', 'node-fastcgi'],
  ['tsgi-nokeep', 'node-fastcgi-nokeep'],
  ['tsgi', 'tsgi-nokeep'],
  ['tsgi-express', 'express-http'],
];

/** Starts a variant's backend on `port`; resolves once it printed its ready line. */
export async function startBackend(variant, port, { nodeArgs = [], env = process.env } = {}) {
  const proc = startChild(variant.id, process.execPath, variant.command(port, nodeArgs), { env });
  await waitForOutput(proc, variant.ready);
  return proc;
}
