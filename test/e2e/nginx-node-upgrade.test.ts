// Drives real nginx (conf/nginx/tsgi.conf) in front of `tsgi fastcgi` hosting a node:http server: Upgrade in a 426 reaches the client.
//
// RFC 9110 §15.5.22: a server that sends 426 Upgrade Required MUST send Upgrade. The node adapter
// keeps that field on a 426 (and only there), the driver accepts it there, and nginx's FastCGI
// module passes it on (it drops the app's Connection and writes its own). A request carrying
// Upgrade is served as plain HTTP: node:http never sees an upgrade (RFC 9110 §7.8 MAY ignore).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { startNginx } from './harness/nginx.js';
import { makePrefix, removePrefix } from './harness/prefix.js';

/** An http.Server export (never listening), as a WebSocket-ready app would have it. */
const APP = `import http from 'node:http';
const server = http.createServer((req, res) => {
  if (req.url === '/ws') {
    res.writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain' });
    res.end('WebSocket only\\n');
  } else if (req.url === '/advertise') {
    res.setHeader('Upgrade', 'h2c');
    res.end('plain');
  } else {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ upgrade: req.headers.upgrade ?? null }));
  }
});
server.on('upgrade', (_req, socket) => socket.destroy()); // never reached through TSGI
export default server;
`;

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi → node:http server: Upgrade', () => {
  let dir: string | undefined;
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;
  const diagnostics = async () => `${await nginx!.logs()}\n--- tsgi ---\n${daemon!.logs()}`;

  beforeAll(async () => {
    NGINX.require();
    dir = await makePrefix('node-upgrade');
    const app = join(dir, 'app.mjs');
    await writeFile(app, APP);
    daemon = await startDaemon({ app });
    nginx = await startNginx({ upstream: daemon.endpoint });
  });

  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
    await removePrefix(dir);
  });

  it('passes Upgrade on a 426 Upgrade Required to the client (RFC 9110 §15.5.22)', async () => {
    const res = await fetchRaw(`${nginx!.url}/ws`);
    expect(res.status, await diagnostics()).toBe(426);
    expect(res.statusMessage).toBe('Upgrade Required');
    expect(res.headers.upgrade).toBe('websocket');
    expect(res.headers.connection).not.toMatch(/upgrade/i); // nginx's own, not the app's
    expect(res.body.toString()).toBe('WebSocket only\n');
    expect(daemon!.logs()).not.toContain('error in app');
  });

  it('leaves Upgrade out of any other response', async () => {
    const res = await fetchRaw(`${nginx!.url}/advertise`);
    expect(res.status, await diagnostics()).toBe(200);
    expect(res.headers.upgrade).toBeUndefined();
    expect(res.body.toString()).toBe('plain');
  });

  it('serves a request carrying Upgrade as plain HTTP, not as a hung or failed upgrade (RFC 9110 §7.8)', async () => {
    const res = await fetchRaw(`${nginx!.url}/headers`, { headers: { Upgrade: 'websocket' }, timeoutMs: 10_000 });
    expect(res.status, await diagnostics()).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ upgrade: null });
  });
});
