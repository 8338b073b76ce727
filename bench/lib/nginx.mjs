// Runs a private nginx for the benchmark: one server block per backend, loopback ports only, no access log.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild, stopChild, waitForPort } from './proc.mjs';
import { REPO } from './paths.mjs';

export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';

// Settings every server block shares, so backends differ only in how nginx reaches them:
// - 1 MiB uploads need client_max_body_size above nginx's 1m default; a body buffer as large keeps
//   them in memory instead of a temp file (disk noise would swamp the backend's share).
// - Response buffers of 8 x 16k hold a 64 KiB response, so nginx never spools it to disk either
//   (the defaults, 8 x 4k, would: "an upstream response is buffered to a temporary file").
const SHARED_HTTP = `
    access_log off;
    client_max_body_size 2m;
    client_body_buffer_size 2m;
    fastcgi_buffer_size 16k;
    fastcgi_buffers 8 16k;
    proxy_buffer_size 16k;
    proxy_buffers 8 16k;`;

/**
 * The server block for one backend (see backends.mjs for the variants):
 * - fastcgi + keepAlive: upstream `keepalive 32` and `fastcgi_keep_conn on` (FCGI_KEEP_CONN);
 * - fastcgi, no keepAlive: a connection per request, as nginx does by default;
 * - fastcgi, either way: plus the variant's own `fastcgiParams` (php-fpm: SCRIPT_FILENAME);
 * - http: `proxy_pass` with upstream `keepalive 32`, HTTP/1.1 and an empty Connection header;
 * - either protocol: plus the variant's own `locationDirectives` (download.mjs: `fastcgi_buffering
 *   off;`), a list of directives without their indentation.
 */
function serverBlock(variant) {
  const upstream = `bench_${variant.id.replaceAll('-', '_')}`;
  const keepalive = variant.keepAlive ? '\n        keepalive 32;' : '';
  // Params only one backend needs, e.g. php-fpm's SCRIPT_FILENAME (the script to run); every other
  // param is the shared set, so all FastCGI backends see the same request.
  const extraParams = (variant.fastcgiParams ?? []).map(([name, value]) => `\n            fastcgi_param ${name} "${value}";`).join('');
  const extraDirectives = (variant.locationDirectives ?? []).map((directive) => `\n            ${directive}`).join('');
  const location =
    variant.protocol === 'http'
      ? `
            proxy_pass http://${upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";`
      : `
            fastcgi_pass ${upstream};
            include tsgi_fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO $uri;${extraParams}${variant.keepAlive ? '\n            fastcgi_keep_conn on;' : ''}`;
  return `
    # ${variant.label}
    upstream ${upstream} {
        server 127.0.0.1:${variant.backendPort};${keepalive}
    }
    server {
        listen 127.0.0.1:${variant.frontPort};
        location / {${location}${extraDirectives}
        }
    }`;
}

/** Writes the prefix (config, params file, temp dirs) and starts `nginx -g 'daemon off;'`-style. */
export async function startNginx(variants) {
  const prefix = mkdtempSync(join(tmpdir(), 'tsgi-bench-nginx-'));
  // Also on an interrupted run (the 'exit' hook in proc.mjs has signalled nginx by then).
  const removePrefix = () => rmSync(prefix, { recursive: true, force: true });
  process.once('exit', removePrefix);
  const temp = join(prefix, 'temp');
  for (const dir of ['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) mkdirSync(join(temp, dir), { recursive: true });
  // The same FastCGI params the project ships for nginx (conf/nginx), for every FastCGI backend.
  copyFileSync(join(REPO, 'conf/nginx/tsgi_fastcgi_params'), join(prefix, 'tsgi_fastcgi_params'));
  const errorLog = join(prefix, 'error.log');
  const conf = [
    '# Written by bench/lib/nginx.mjs for one benchmark run.',
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    // The master runs workers as "nobody" when started as root; they could not use the temp dirs.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `error_log ${errorLog} warn;`,
    `pid ${join(prefix, 'nginx.pid')};`,
    'events { worker_connections 4096; }',
    'http {',
    SHARED_HTTP,
    `    client_body_temp_path ${join(temp, 'client_body')};`,
    `    fastcgi_temp_path ${join(temp, 'fastcgi')};`,
    `    proxy_temp_path ${join(temp, 'proxy')};`,
    `    uwsgi_temp_path ${join(temp, 'uwsgi')};`,
    `    scgi_temp_path ${join(temp, 'scgi')};`,
    ...variants.map(serverBlock),
    '}',
    '',
  ].join('\n');
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  // -e: nginx opens its compiled-in error log before reading the config; keep even that in the prefix.
  const proc = startChild('nginx', NGINX, ['-p', prefix, '-c', confPath, '-e', errorLog], { exitSignal: 'SIGTERM' });
  try {
    await waitForPort(variants[0].frontPort, { isAlive: proc.alive });
  } catch (error) {
    await stopChild(proc);
    const log = readFileSync(errorLog, 'utf8');
    removePrefix();
    throw new Error(`${error.message}\n--- nginx ---\n${log}${proc.output()}`);
  }
  return {
    prefix,
    confPath,
    pid: proc.pid,
    /** The worker's pid (the master's only child), for its CPU time. */
    workerPid() {
      try {
        return Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
      } catch {
        return undefined;
      }
    },
    /** A mark in the error log; `errorsSince(mark)` counts what nginx logged after it. */
    logMark() {
      try {
        return statSync(errorLog).size;
      } catch {
        return 0;
      }
    },
    /** Lines nginx logged since `mark`: [error]/[crit]/[alert] (a 502 always logs one) and [warn]. */
    errorsSince(mark) {
      const text = readFileSync(errorLog).subarray(mark).toString('utf8');
      const lines = text.split('\n');
      const errors = lines.filter((line) => /\[(error|crit|alert|emerg)\]/.test(line));
      const warnings = lines.filter((line) => /\[warn\]/.test(line));
      return { errors: errors.length, warnings: warnings.length, sample: errors[0] ?? warnings[0] };
    },
    async stop() {
      await stopChild(proc, { signal: 'SIGQUIT' });
      removePrefix();
      process.off('exit', removePrefix);
    },
  };
}
