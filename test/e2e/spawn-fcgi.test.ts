// Drives real nginx (conf/nginx/tsgi.conf) in front of tsgi started by spawn-fcgi on a unix socket handed over on fd 0.
//
// nginx substitutions as in nginx-fastcgi.test.ts ("server unix:<socket>;" for the upstream); the
// daemon is `spawn-fcgi -n -s <socket> -- node dist/cli.cjs fastcgi <app>` (harness/spawn-fcgi.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX, SPAWN_FCGI } from './harness/binaries.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import type { Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { startNginx } from './harness/nginx.js';
import { makePrefix, removePrefix } from './harness/prefix.js';
import { startSpawnFcgi } from './harness/spawn-fcgi.js';
import { printLogsOnFailure, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

// The same front server and sample as nginx-fastcgi.test.ts: only the way the daemon starts differs.
const OPTIONS: SuiteOptions = {
  echoBytes: 10 * 1024 * 1024,
  teapotReason: 'Short And Stout',
  lateError: 'cut-off',
  streaming: true,
  keepAlive: true,
  chunkedUpload: true,
};

describe.skipIf(NGINX.skip || SPAWN_FCGI.skip)('nginx → tsgi started by spawn-fcgi (unix socket on fd 0)', () => {
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;
  let socketDir: string | undefined;
  let target: Target | undefined;

  beforeAll(async () => {
    NGINX.require();
    SPAWN_FCGI.require();
    socketDir = await makePrefix('sock');
    daemon = await startSpawnFcgi({ socketPath: join(socketDir, 'tsgi.sock') });
    nginx = await startNginx({ upstream: daemon.endpoint });
    const { url } = nginx;
    target = {
      label: 'nginx → spawn-fcgi → tsgi (fd 0)',
      transport: 'fastcgi',
      root: url,
      rootScriptName: '',
      sub: { url: `${url}/app`, scriptName: '/app' },
      serverName: 'example.com',
      local: true,
      daemon: daemon.endpoint,
      logs: async () => `${(await nginx?.logs()) ?? ''}\n--- spawn-fcgi / daemon ---\n${daemon?.logs() ?? ''}`,
    };
  });
  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
    await removePrefix(socketDir);
  });

  printLogsOnFailure(() => target);
  defineSuite(() => target!, OPTIONS);
  defineConnectionChecks(() => target!, { keepConnFlag: true, reused: true });

  it('tells the app the socket may be shared by other processes (tsgi.multiprocess on fd 0)', async () => {
    const res = await fetchRaw(`${target!.root}/env`);
    expect(JSON.parse(res.body.toString())).toMatchObject({ 'tsgi.multiprocess': true });
  });

  it('leaves the socket file to spawn-fcgi on SIGTERM, and a new spawn-fcgi on the same path serves again', async () => {
    const socketPath = join(socketDir!, 'tsgi.sock');
    await daemon!.stop();
    expect(daemon!.process.child.exitCode).toBe(0);
    // tsgi did not bind it, so it does not unlink it; spawn-fcgi replaces the stale file on restart.
    expect(existsSync(socketPath)).toBe(true);
    daemon = await startSpawnFcgi({ socketPath });
    // nginx's pooled connections to the old process are gone; it connects again.
    await expect.poll(async () => (await fetchRaw(`${target!.root}/hello`)).status, { timeout: 10_000, interval: 200 }).toBe(200);
  });
});
