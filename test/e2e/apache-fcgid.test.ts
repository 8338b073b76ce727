// Drives real Apache mod_fcgid (conf/apache/tsgi-fcgid.conf) spawning the fixture app, which serves FastCGI on fd 0.
//
// Substitutions in the sample (plain string replacement, see harness/samples.ts):
//   "/srv/app/fcgi-bin"                    -> <prefix>/fcgi-bin (the fixture app, `#!/usr/bin/env tsgi`)
//   "FcgidInitialEnv PATH /usr/local/bin:" -> "FcgidInitialEnv PATH <prefix>/bin:/usr/local/bin:"
// No --listen anywhere: this is the CLI's "listening socket inherited on fd 0" detection.
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { hasFcgid, startApache } from './harness/apache.js';
import { APACHE } from './harness/binaries.js';
import { installApp, installCli } from './harness/cgi-install.js';
import type { FrontServer } from './harness/front-server.js';
import { renderSample } from './harness/samples.js';
import { printLogsOnFailure, remoteUrl, type Target } from './harness/target.js';
import { defineSuite, type SuiteOptions } from './suite.js';

const FCGID_OPTIONS: SuiteOptions = {
  // mod_fcgid sends the app the whole body before it reads any of the response (as mod_cgid
  // does), so an echo larger than the socket buffers deadlocks; 10 MiB goes through /sha256.
  echoBytes: 16 * 1024,
  teapotReason: 'Short And Stout',
  // mod_fcgid ends the response cleanly when the app drops the connection mid-body.
  lateError: 'looks-complete',
  // Not checkable: mod_fcgid gives each process one request at a time, so /release lands in
  // another process than the /stream it should release.
  streaming: false,
  // mod_fcgid opens a connection per request.
  keepAlive: false,
  chunkedUpload: true,
};

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
      return renderSample('apache/tsgi-fcgid.conf', [
        ['/srv/app/fcgi-bin', fcgiBin],
        ['FcgidInitialEnv PATH /usr/local/bin:', `FcgidInitialEnv PATH ${binDir}:/usr/local/bin:`],
      ]);
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
});
