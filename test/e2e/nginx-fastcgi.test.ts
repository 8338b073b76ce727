// Drives real nginx (conf/nginx/tsgi.conf) in front of the tsgi FastCGI daemon: tcp, unix socket, and keep-alive off.
//
// "keep-conn off" renders the sample without `keepalive 8;` and `fastcgi_keep_conn on;`
// (harness/nginx.ts WITHOUT_KEEP_CONN): nginx then opens a connection per request and the daemon
// must close it after FCGI_END_REQUEST. Chunked uploads go through the sample's /echo location,
// which has `fastcgi_request_buffering off` (suite.ts "reads a chunked request body").
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import { fetchRaw } from './harness/http.js';
import { startNginx, WITHOUT_KEEP_CONN } from './harness/nginx.js';
import { makePrefix, removePrefix } from './harness/prefix.js';
import { printLogsOnFailure, remoteDaemon, remoteUrl, type Target } from './harness/target.js';
import { defineSuite } from './suite.js';

const NGINX_OPTIONS = {
  // nginx stops sending the request body once it has passed the response header on
  // (ngx_http_upstream_send_request_handler), so the daemon must never stop reading a body: it
  // keeps unread bytes in a temp file (src/core/spool.ts). 10 MiB echoed proves it.
  echoBytes: 10 * 1024 * 1024,
  // nginx passes the reason phrase of the upstream's "Status:" line through unchanged.
  teapotReason: 'Short And Stout',
  lateError: 'cut-off',
  streaming: true,
  keepAlive: true,
  chunkedUpload: true,
} as const;

/** Against servers that are already running (docker/compose.yaml): registered only when asked for. */
const REMOTE = remoteUrl('TSGI_E2E_NGINX_URL');

describe.skipIf(REMOTE !== undefined || NGINX.skip).each([
  { socket: 'tcp' as const, keepConn: true, variant: 'tcp' },
  { socket: 'unix' as const, keepConn: true, variant: 'unix' },
  { socket: 'tcp' as const, keepConn: false, variant: 'tcp, keep-conn off' },
])('nginx → FastCGI daemon ($variant)', ({ socket, keepConn, variant }) => {
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;
  let socketDir: string | undefined;
  let target: Target | undefined;

  beforeAll(async () => {
    NGINX.require();
    if (socket === 'unix') socketDir = await makePrefix('sock');
    daemon = await startDaemon(socketDir ? { socketPath: join(socketDir, 'tsgi.sock') } : {});
    nginx = await startNginx({ upstream: daemon.endpoint, replacements: keepConn ? [] : WITHOUT_KEEP_CONN });
    const { url } = nginx;
    const logs = async () => `${(await nginx?.logs()) ?? ''}\n--- daemon ---\n${daemon?.logs() ?? ''}`;
    target = {
      label: `nginx → FastCGI (${variant})`,
      transport: 'fastcgi',
      root: url,
      rootScriptName: '',
      sub: { url: `${url}/app`, scriptName: '/app' },
      serverName: 'example.com',
      local: true,
      daemon: daemon.endpoint,
      logs,
    };
  });

  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
    await removePrefix(socketDir);
  });

  printLogsOnFailure(() => target);
  defineSuite(() => target!, {
    ...NGINX_OPTIONS,
    keepAlive: keepConn,
    // Without fastcgi_keep_conn, nginx takes an orderly close for the end of the response, so tsgi
    // resets the connection (only for nginx: lighttpd and mod_fcgid take a reset badly); nginx then
    // drops the partial body it had buffered, and its client gets an incomplete, empty 200.
    lateError: keepConn ? 'cut-off' : 'cut-off-maybe-empty',
  });
  defineConnectionChecks(() => target!, { keepConnFlag: keepConn, reused: keepConn });
});

/**
 * The sample's `fastcgi_buffering off` locations, with `fastcgi_keep_conn on`: nginx takes an
 * orderly close for the end of the response there, so tsgi resets the connection to cut a response
 * off (docs/front-servers.md "Responses"). A location like the sample's /stream, added for the
 * fixture's /error-late; the sample's own `location /` (buffered) is covered by suite.ts.
 */
describe.skipIf(REMOTE !== undefined || NGINX.skip)('nginx → FastCGI daemon, a fastcgi_buffering off location', () => {
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;

  beforeAll(async () => {
    NGINX.require();
    daemon = await startDaemon();
    nginx = await startNginx({
      upstream: daemon.endpoint,
      replacements: [['    location = /stream {', '    location = /error-late {\n        fastcgi_pass tsgi;\n        fastcgi_buffering off;\n    }\n\n    location = /stream {']],
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
  });

  it('a late error is cut off there too: tsgi resets the connection, which nginx does not take for the end', async () => {
    const res = await fetchRaw(`${nginx!.url}/error-late`);
    // The reset may overtake the partial body: nginx then answers 502 instead, an error either way.
    if (res.status === 200) expect(res.complete).toBe(false);
    else expect(res.status).toBe(502);
    expect(await nginx!.logs()).toMatch(/Connection reset by peer/);
  });
});

if (REMOTE !== undefined) describe('nginx → FastCGI daemon (already running)', () => {
  const target: Target = {
    label: `nginx at ${REMOTE}`,
    transport: 'fastcgi',
    root: REMOTE!,
    rootScriptName: '',
    sub: { url: `${REMOTE}/app`, scriptName: '/app' },
    serverName: 'example.com',
    local: false,
    daemon: remoteDaemon('TSGI_E2E_DAEMON_ADDR'),
    logs: async () => '(logs: see `docker compose logs nginx daemon`)',
  };
  printLogsOnFailure(() => target);
  defineSuite(() => target, NGINX_OPTIONS);
});
