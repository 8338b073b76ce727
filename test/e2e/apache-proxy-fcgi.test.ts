// Drives real Apache mod_proxy_fcgi (conf/apache/tsgi-proxy-fcgi.conf) in front of the tsgi FastCGI daemon.
//
// Substitutions in the sample (plain string replacement, see harness/samples.ts):
//   "<VirtualHost *:80>"         -> "<VirtualHost 127.0.0.1:<port>>" (the harness Listens on loopback only)
//   "\"fcgi://127.0.0.1:9000/\"" -> the daemon's tcp port, or "unix:<socket>|fcgi://localhost/" (the
//                                   sample's commented unix form, made live)
//   " enablereuse=on"            -> "" in the "no reuse" variant (mod_proxy_fcgi's default: a new
//                                   connection per request)
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { startApache } from './harness/apache.js';
import { APACHE } from './harness/binaries.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { makePrefix, removePrefix } from './harness/prefix.js';
import { renderSample } from './harness/samples.js';
import { printLogsOnFailure, remoteDaemon, remoteUrl, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const APACHE_OPTIONS: SuiteOptions = {
  // mod_proxy_fcgi reads the response while it still sends the body: full duplex works.
  echoBytes: 10 * 1024 * 1024,
  // mod_proxy_fcgi keeps the reason phrase of the app's "Status:" line.
  teapotReason: 'Short And Stout',
  lateError: 'cut-off',
  // Thanks to flushpackets=auto in the sample; without it Apache held "first\n" back.
  streaming: true,
  // enablereuse=on: the harness runs one httpd child, so sequential requests share its pool.
  keepAlive: true,
  chunkedUpload: true,
};

const REMOTE = remoteUrl('TSGI_E2E_APACHE_URL');

describe.skipIf(REMOTE !== undefined || APACHE.skip).each([
  { socket: 'tcp' as const, reuse: true, variant: 'tcp' },
  { socket: 'unix' as const, reuse: true, variant: 'unix' },
  { socket: 'tcp' as const, reuse: false, variant: 'tcp, no enablereuse' },
])('Apache mod_proxy_fcgi → FastCGI daemon ($variant)', ({ socket, reuse, variant }) => {
  let daemon: Daemon | undefined;
  let apache: FrontServer | undefined;
  let socketDir: string | undefined;
  let target: Target | undefined;

  beforeAll(async () => {
    APACHE.require();
    if (socket === 'unix') socketDir = await makePrefix('sock');
    // 0666: Apache's children run as www-data, the daemon as whoever runs the tests.
    daemon = await startDaemon(socketDir ? { socketPath: join(socketDir, 'tsgi.sock'), socketMode: '0666' } : {});
    const endpoint = daemon.endpoint;
    const backend = 'path' in endpoint ? `"unix:${endpoint.path}|fcgi://localhost/"` : `"fcgi://127.0.0.1:${endpoint.port}/"`;
    apache = await startApache(async ({ port }) =>
      renderSample('apache/tsgi-proxy-fcgi.conf', [
        ['<VirtualHost *:80>', `<VirtualHost 127.0.0.1:${port}>`],
        ['"fcgi://127.0.0.1:9000/"', backend],
        ...(reuse ? [] : ([[' enablereuse=on', '']] as Array<[string, string]>)),
      ]),
    );
    const { url } = apache;
    target = {
      label: `Apache mod_proxy_fcgi → FastCGI (${variant})`,
      transport: 'fastcgi',
      root: url,
      rootScriptName: '',
      sub: { url: `${url}/app`, scriptName: '/app' },
      serverName: new URL(url).hostname,
      local: true,
      daemon: endpoint,
      logs: async () => `${(await apache?.logs()) ?? ''}\n--- daemon ---\n${daemon?.logs() ?? ''}`,
    };
  });

  afterAll(async () => {
    await apache?.stop();
    await daemon?.stop();
    await removePrefix(socketDir);
  });

  printLogsOnFailure(() => target);
  defineSuite(() => target!, { ...APACHE_OPTIONS, keepAlive: reuse });
  // Without enablereuse, mod_proxy_fcgi leaves FCGI_KEEP_CONN unset and the daemon closes each
  // connection. It still tells a cut-off from an end: it expects FCGI_END_REQUEST either way.
  defineConnectionChecks(() => target!, { keepConnFlag: reuse, reused: reuse });
});

if (REMOTE !== undefined) describe('Apache mod_proxy_fcgi → FastCGI daemon (already running)', () => {
  const target: Target = {
    label: `Apache at ${REMOTE}`,
    transport: 'fastcgi',
    root: REMOTE!,
    rootScriptName: '',
    sub: { url: `${REMOTE}/app`, scriptName: '/app' },
    serverName: REMOTE ? new URL(REMOTE).hostname : '',
    local: false,
    daemon: remoteDaemon('TSGI_E2E_DAEMON_ADDR'),
    logs: async () => '(logs: see `docker compose logs apache daemon`)',
  };
  printLogsOnFailure(() => target);
  // Several httpd children each keep their own pool: reuse across requests is not guaranteed there.
  defineSuite(() => target, { ...APACHE_OPTIONS, keepAlive: false });
});
