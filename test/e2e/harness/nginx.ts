// Runs a private nginx for the e2e tests: conf/nginx/tsgi.conf wrapped in a minimal main config.
//
// Substitutions made in conf/nginx/tsgi.conf (plain string replacement, see samples.ts):
//   "listen 80;"               -> "listen 127.0.0.1:<free port>;"  (never anything but loopback)
//   "server 127.0.0.1:9000;"   -> the daemon's tcp address, or "server unix:<socket>;"
// Callers may add their own (NginxOptions.replacements, e.g. WITHOUT_KEEP_CONN below).
// The site file includes tsgi_fastcgi_params by a relative name, resolved against the prefix, so
// the params file is copied there unchanged.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NGINX } from './binaries.js';
import { awaitFrontServer, type FrontServer } from './front-server.js';
import { CONF_DIR } from './paths.js';
import { freePort, type Endpoint } from './ports.js';
import { makePrefix } from './prefix.js';
import { startProcess, type ServerProcess } from './process.js';
import { renderSample } from './samples.js';

export interface NginxOptions {
  /** Where the sample's `upstream tsgi` should point. */
  upstream: Endpoint;
  /** More substitutions in conf/nginx/tsgi.conf, made after the two above. */
  replacements?: Array<[from: string, to: string]>;
}

/**
 * The sample without keep-alive to the daemon: no upstream connection pool and no
 * `fastcgi_keep_conn on`, so nginx sends BEGIN_REQUEST without FCGI_KEEP_CONN (FastCGI spec §5.1)
 * and the daemon must close the connection after each request.
 */
export const WITHOUT_KEEP_CONN: Array<[from: string, to: string]> = [
  ['keepalive 8;', '# keepalive 8; (removed by the e2e harness)'],
  ['fastcgi_keep_conn on;', '# fastcgi_keep_conn on; (removed by the e2e harness)'],
];

export async function startNginx({ upstream, replacements = [] }: NginxOptions): Promise<FrontServer> {
  const nginx = NGINX.require();
  const prefix = await makePrefix('nginx');
  const port = await freePort();
  const upstreamLine = 'path' in upstream ? `server unix:${upstream.path};` : `server ${upstream.host}:${upstream.port};`;
  const site = await renderSample('nginx/tsgi.conf', [
    ['listen 80;', `listen 127.0.0.1:${port};`],
    ['server 127.0.0.1:9000;', upstreamLine],
    ...replacements,
  ]);
  await writeFile(join(prefix, 'tsgi.conf'), site);
  await copyFile(join(CONF_DIR, 'nginx/tsgi_fastcgi_params'), join(prefix, 'tsgi_fastcgi_params'));
  const temp = join(prefix, 'temp');
  for (const dir of ['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) await mkdir(join(temp, dir), { recursive: true });

  const errorLog = join(prefix, 'error.log');
  const main = [
    '# Minimal main config written by test/e2e/harness/nginx.ts around conf/nginx/tsgi.conf.',
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    // Workers run as "nobody" by default when the master is root, and could not reach the temp dirs.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `error_log ${errorLog} info;`,
    `pid ${join(prefix, 'nginx.pid')};`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${join(prefix, 'access.log')};`,
    `    client_body_temp_path ${join(temp, 'client_body')};`,
    `    fastcgi_temp_path ${join(temp, 'fastcgi')};`,
    `    proxy_temp_path ${join(temp, 'proxy')};`,
    `    uwsgi_temp_path ${join(temp, 'uwsgi')};`,
    `    scgi_temp_path ${join(temp, 'scgi')};`,
    '    include tsgi.conf;',
    '}',
    '',
  ].join('\n');
  const confPath = join(prefix, 'nginx.conf');
  await writeFile(confPath, main);

  // -e: nginx opens its compiled-in error log before reading the config; keep even that in the prefix.
  const proc: ServerProcess = startProcess('nginx', nginx, ['-p', prefix, '-c', confPath, '-e', errorLog]);
  return awaitFrontServer('nginx', proc, { prefix, port, errorLog });
}
