// Drives real nginx (conf/nginx/tsgi.conf) in front of `tsgi fastcgi --max-body-bytes 4096`: bodies over the limit get 413, with and without a length.
//
// With a Content-Length the daemon refuses before the app runs; a chunked upload to the sample's
// `/echo`-style locations (fastcgi_request_buffering off) arrives without one, so the limit trips
// while the app reads, and the driver answers 413 for the BodyTooLargeError (docs/spec.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX } from './harness/binaries.js';
import { startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { startNginx } from './harness/nginx.js';

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi --max-body-bytes 4096', () => {
  let daemon: Daemon | undefined;
  let nginx: FrontServer | undefined;

  beforeAll(async () => {
    NGINX.require();
    daemon = await startDaemon({ extraArgs: ['--max-body-bytes', '4096'] });
    // Request buffering off for /sha256 too, as the sample has it for /echo: the body streams in chunked.
    nginx = await startNginx({
      upstream: daemon.endpoint,
      replacements: [['location = /echo {', 'location = /sha256 {\n        fastcgi_pass tsgi;\n        fastcgi_request_buffering off;\n    }\n\n    location = /echo {']],
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    await daemon?.stop();
  });

  it('answers 413 before the app runs when Content-Length is over the limit', async () => {
    const res = await fetchRaw(`${nginx!.url}/sha256`, { method: 'POST', body: Buffer.alloc(20_000, 0x61) });
    expect(res.status).toBe(413);
    // The daemon's stderr comes through a pipe: the line may arrive after the response.
    await expect.poll(() => daemon!.logs(), { timeout: 5000 }).toContain('a body of 20000 bytes exceeds --max-body-bytes 4096');
  });

  it('answers 413, not 500, when a chunked body grows past the limit while the app reads it', async () => {
    const res = await fetchRaw(`${nginx!.url}/sha256`, { method: 'POST', body: Buffer.alloc(20_000, 0x61), chunkedPieceBytes: 2048 });
    expect(res.status, `${await nginx!.logs()}\n--- tsgi ---\n${daemon!.logs()}`).toBe(413);
    expect(res.body.toString()).toBe('Content Too Large\n');
    await expect.poll(() => daemon!.logs(), { timeout: 5000 }).toContain('tsgi: 413 for POST /sha256: tsgi: request body exceeds 4096 bytes');
    expect(daemon!.logs()).not.toContain('error in app');
  });

  it('still takes a chunked body under the limit', async () => {
    const res = await fetchRaw(`${nginx!.url}/sha256`, { method: 'POST', body: Buffer.alloc(3000, 0x61), chunkedPieceBytes: 1024 });
    expect(res.status).toBe(200);
  });
});
