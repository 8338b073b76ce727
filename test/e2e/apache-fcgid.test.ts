// Drives real Apache mod_fcgid (conf/apache/tsgi-fcgid.conf) spawning the fixture app, which serves FastCGI on fd 0.
//
// Substitutions in the sample (plain string replacement, see harness/samples.ts):
//   "/srv/app/fcgi-bin"                    -> <prefix>/fcgi-bin (the fixture app, `#!/usr/bin/env tsgi`)
//   "FcgidInitialEnv PATH /usr/local/bin:" -> "FcgidInitialEnv PATH <prefix>/bin:/usr/local/bin:"
// Appended after the sample (test-only, see RECYCLING): a small FcgidMaxRequestsPerProcess, so
// every check below also runs across process recycling.
// No --listen anywhere: this is the CLI's "listening socket inherited on fd 0" detection.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasFcgid, startApache } from './harness/apache.js';
import { APACHE } from './harness/binaries.js';
import { installApp, installCli } from './harness/cgi-install.js';
import { defineConnectionChecks } from './harness/connection-checks.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { processExists } from './harness/process.js';
import { renderSample } from './harness/samples.js';
import { printLogsOnFailure, remoteUrl, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const FCGID_OPTIONS: SuiteOptions = {
  // mod_fcgid sends the app the whole body before it reads any of the response; the daemon reads
  // every body (spooling it) and holds the response until it is in, so a 10 MiB echo works.
  echoBytes: 10 * 1024 * 1024,
  teapotReason: 'Short And Stout',
  // mod_fcgid ends the response cleanly when the app drops the connection mid-body (after
  // appending its own 500 page with the sample's FcgidOutputBufferSize 0: checked below).
  lateError: 'looks-complete',
  // Not checkable: mod_fcgid gives each process one request at a time, so /release lands in
  // another process than the /stream it should release.
  streaming: false,
  // mod_fcgid opens a connection per request.
  keepAlive: false,
  chunkedUpload: true,
};

/** Requests each app process serves before mod_fcgid replaces it. */
const MAX_REQUESTS_PER_PROCESS = 3;

/**
 * Test-only directives after the sample. mod_fcgid throttles spawning with a score (each spawn
 * adds FcgidSpawnScore, each termination FcgidTerminationScore, FcgidTimeScore is taken off every
 * second, nothing is spawned above FcgidSpawnScoreUpLimit); with a process replaced every three
 * requests the defaults would make requests wait for the score to fall, so terminations are made
 * free here. FcgidErrorScanInterval: how soon a process that reached its limit is told to stop
 * (SIGTERM), 3 s by default.
 */
const RECYCLING = [
  '# Added by test/e2e/apache-fcgid.test.ts: recycle app processes often.',
  `FcgidMaxRequestsPerProcess ${MAX_REQUESTS_PER_PROCESS}`,
  'FcgidTerminationScore 0',
  'FcgidSpawnScoreUpLimit 100',
  'FcgidErrorScanInterval 1',
].join('\n');

/** mod_fcgid is its own package: skipped when missing, except under CI where that is a failure. */
const SKIP = remoteUrl('TSGI_E2E_APACHE_URL') !== undefined || APACHE.skip || (!hasFcgid() && !process.env.CI);

describe.skipIf(SKIP)('Apache mod_fcgid → tsgi on fd 0', () => {
  let apache: FrontServer | undefined;
  let target: Target | undefined;

  beforeAll(async () => {
    APACHE.require();
    if (!hasFcgid()) throw new Error('mod_fcgid not found: install it with apt-get install libapache2-mod-fcgid');
    apache = await startApache(async ({ prefix }) => {
      const { binDir } = await installCli(prefix);
      const fcgiBin = join(prefix, 'fcgi-bin');
      await installApp(fcgiBin);
      const sample = await renderSample('apache/tsgi-fcgid.conf', [
        ['/srv/app/fcgi-bin', fcgiBin],
        ['FcgidInitialEnv PATH /usr/local/bin:', `FcgidInitialEnv PATH ${binDir}:/usr/local/bin:`],
      ]);
      return `${sample}\n${RECYCLING}\n`;
    });
    const { url } = apache;
    target = {
      label: 'Apache mod_fcgid → FastCGI (fd 0)',
      transport: 'fastcgi',
      root: `${url}/fcgi/app.mjs`,
      rootScriptName: '/fcgi/app.mjs',
      serverName: new URL(url).hostname,
      local: true,
      logs: async () => (await apache?.logs()) ?? '',
    };
  });
  afterAll(async () => {
    await apache?.stop();
  });

  printLogsOnFailure(() => target);
  defineSuite(() => target!, FCGID_OPTIONS);
  defineConnectionChecks(() => target!, { keepConnFlag: false, reused: false });

  it('a late error with FcgidOutputBufferSize 0: 200, the partial body, then Apache\'s own 500 page', async () => {
    const res = await fetchRaw(`${target!.root}/error-late`);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    const body = res.body.toString();
    expect(body).toMatch(/^partial\n<!DOCTYPE HTML/);
    expect(body).toContain('<title>500 Internal Server Error</title>');
    expect(body).not.toContain('secret-internal-detail');
  });

  it(`replaces each process after ${MAX_REQUESTS_PER_PROCESS} requests (FcgidMaxRequestsPerProcess); every request succeeds`, async () => {
    const pids: number[] = [];
    for (let i = 0; i < MAX_REQUESTS_PER_PROCESS * 3 + 1; i++) {
      const res = await fetchRaw(`${target!.root}/conn`);
      expect(res.status, res.body.toString()).toBe(200);
      pids.push((JSON.parse(res.body.toString()) as { pid: number }).pid);
    }
    const perPid = new Map<number, number>();
    for (const pid of pids) perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
    expect(perPid.size).toBeGreaterThanOrEqual(4);
    for (const count of perPid.values()) expect(count).toBeLessThanOrEqual(MAX_REQUESTS_PER_PROCESS);
    // A process that reached its limit is stopped with SIGTERM and must exit by itself (tsgi stops
    // gracefully); mod_fcgid would log "graceful kill fail, sending SIGKILL" otherwise.
    const retired = [...perPid.entries()].filter(([, count]) => count === MAX_REQUESTS_PER_PROCESS).map(([pid]) => pid);
    expect(retired.length).toBeGreaterThan(0);
    await expect.poll(() => retired.filter(processExists), { timeout: 10_000, interval: 200 }).toEqual([]);
    expect(await apache!.logs()).not.toMatch(/SIGKILL/);
  });
});
