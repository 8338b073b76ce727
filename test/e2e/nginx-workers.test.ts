// Drives real nginx (conf/nginx/tsgi.conf, keep-alive to the daemon) in front of `tsgi fastcgi --workers`: recycling and reload under load, the only worker replaced, and spawn-fcgi's fd 0 shared by workers.
//
// The app (test/fixtures/workers-app.mjs, copied with a workers-version.txt) answers
// "<pid> <version> <tsgi.multiprocess>", so each answer says which worker and which code served it.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execPath } from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX, SPAWN_FCGI } from './harness/binaries.js';
import { READY_LINE, startDaemon, type Daemon } from './harness/daemon.js';
import type { FrontServer } from './harness/front-server.js';
import { fetchRaw } from './harness/http.js';
import { startNginx } from './harness/nginx.js';
import { REPO_ROOT, requireCli } from './harness/paths.js';
import { waitForEndpoint } from './harness/ports.js';
import { makePrefix, removePrefix } from './harness/prefix.js';
import { processExists, startProcess, type ServerProcess } from './harness/process.js';

/** The fixture app in `dir`, at `version`; returns the app's path. */
function installApp(dir: string, version: string): string {
  copyFileSync(join(REPO_ROOT, 'test/fixtures/workers-app.mjs'), join(dir, 'app.mjs'));
  writeFileSync(join(dir, 'workers-version.txt'), version);
  return join(dir, 'app.mjs');
}

/**
 * `clients` concurrent clients sending GETs one after another (a new client connection each; nginx
 * keeps its connections to the daemon), each until `enough(its answers)` or `perClient` answers.
 * Returns every status and body, in the order they came.
 */
async function load(base: string, clients: number, perClient: number, enough: (mine: string[]) => boolean = () => false) {
  const answers: Array<{ status: number; body: string }> = [];
  const client = async () => {
    const mine: string[] = [];
    while (mine.length < perClient && !enough(mine)) {
      const res = await fetchRaw(`${base}/`, { timeoutMs: 10_000 });
      answers.push({ status: res.status, body: res.body.toString() });
      mine.push(res.body.toString());
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return answers;
}

/** The daemon and nginx of one describe block, set up and torn down by {@link nginxInFront}. */
interface Setup {
  dir?: string;
  daemon?: Daemon;
  nginx?: FrontServer;
}

/**
 * For the describe block it is called in: the fixture app (v1) in a directory of its own, `tsgi
 * fastcgi <args>` (`--workers` among them) on a loopback port or, with `unix`, on a unix socket in
 * that directory, and nginx (the sample, keep-alive) in front.
 */
function nginxInFront(name: string, args: string[], unix = false): Setup {
  const setup: Setup = {};
  beforeAll(async () => {
    NGINX.require();
    setup.dir = await makePrefix(name);
    const socketPath = unix ? join(setup.dir, 'tsgi.sock') : undefined;
    setup.daemon = await startDaemon({ app: installApp(setup.dir, 'v1'), extraArgs: args, socketPath });
    await setup.daemon.process.waitForOutput(`with ${args[args.indexOf('--workers') + 1]} worker(s)`, 10_000);
    setup.nginx = await startNginx({ upstream: setup.daemon.endpoint });
  });
  afterAll(async () => {
    await setup.nginx?.stop();
    await setup.daemon?.stop();
    if (setup.dir !== undefined) await removePrefix(setup.dir);
  });
  return setup;
}

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi --workers 2 --max-requests 40 (tcp, keep-alive)', () => {
  const setup = nginxInFront('workers', ['--workers', '2', '--max-requests', '40']);

  it('answers every request while workers retire and are replaced', async () => {
    // Rounds of load until two workers have retired and their replacements served (a replacement
    // needs a few hundred ms to start, during which the retiring worker goes on serving): at most
    // 40 rounds of 200 requests.
    const answers: Array<{ status: number; body: string }> = [];
    const retired = () => setup.daemon!.logs().match(/served \d+ requests \(--max-requests\), stopping gracefully/g)?.length ?? 0;
    const pids = new Set<string>();
    for (let round = 0; round < 40 && (retired() < 2 || pids.size < 4); round++) {
      for (const answer of await load(setup.nginx!.url, 8, 25)) {
        answers.push(answer);
        pids.add(answer.body.split(' ')[0]!);
      }
    }
    const failed = answers.filter((a) => a.status !== 200);
    if (failed.length > 0) expect(failed, `${await setup.nginx!.logs()}\n--- tsgi ---\n${setup.daemon!.logs()}`).toEqual([]);
    for (const { body } of answers) expect(body).toMatch(/^\d+ v1 true$/);
    expect(retired()).toBeGreaterThanOrEqual(2);
    expect(pids.size).toBeGreaterThanOrEqual(4);
    expect(setup.daemon!.logs()).not.toMatch(/exited with code|was killed by/);
  });
});

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi --workers 2, reloaded with SIGHUP (tcp, keep-alive)', () => {
  const setup = nginxInFront('workers-reload', ['--workers', '2']);

  it('reloads the app on SIGHUP under load, answering every request with the old code or the new', async () => {
    const before = await load(setup.nginx!.url, 8, 10);
    writeFileSync(join(setup.dir!, 'workers-version.txt'), 'v2');
    setup.daemon!.process.child.kill('SIGHUP');
    // Each client goes on until it has had 10 answers from the new code (bounded: 300 each).
    const after = await load(setup.nginx!.url, 8, 300, (mine) => mine.filter((body) => body.includes(' v2 ')).length >= 10);
    const failed = [...before, ...after].filter((a) => a.status !== 200);
    if (failed.length > 0) expect(failed, `${await setup.nginx!.logs()}\n--- tsgi ---\n${setup.daemon!.logs()}`).toEqual([]);
    expect(before.every((a) => a.body.includes(' v1 '))).toBe(true);
    const versions = after.map((a) => a.body.split(' ')[1]);
    expect(versions.filter((v) => v === 'v2').length).toBeGreaterThanOrEqual(80);
    // The old workers finish and exit once all new ones listen.
    await expect.poll(() => setup.daemon!.logs(), { timeout: 10_000 }).toContain('tsgi: reloaded: workers');
    const old = (/worker\(s\) \(([\d, ]+);/.exec(setup.daemon!.logs())?.[1] ?? '').split(', ').map(Number);
    expect(old).toHaveLength(2);
    for (const pid of old) await expect.poll(() => processExists(pid), { timeout: 10_000 }).toBe(false);
    const last = await fetchRaw(`${setup.nginx!.url}/`, { timeoutMs: 10_000 });
    expect(last.body.toString()).toMatch(/^\d+ v2 true$/);
  });
});

describe.skipIf(NGINX.skip)('nginx → tsgi fastcgi --workers 1 (unix socket, keep-alive)', () => {
  const setup = nginxInFront('workers-one', ['--workers', '1'], true);

  it('answers a request that comes while the only worker is being replaced (no 502)', async () => {
    const first = await fetchRaw(`${setup.nginx!.url}/`, { timeoutMs: 10_000 });
    expect(first.status).toBe(200);
    const pid = Number(first.body.toString().split(' ')[0]);
    // The replacement takes a second to load the app: the request must wait for it in the backlog.
    writeFileSync(join(setup.dir!, 'workers-load-ms.txt'), '1000');
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => setup.daemon!.logs(), { timeout: 5_000 }).toContain(`worker ${pid} was killed by SIGKILL; starting another`);
    const during = await fetchRaw(`${setup.nginx!.url}/`, { timeoutMs: 10_000 });
    if (during.status !== 200) expect(during.status, `${await setup.nginx!.logs()}\n--- tsgi ---\n${setup.daemon!.logs()}`).toBe(200);
    expect(during.body.toString()).toMatch(/^\d+ v1 true$/);
    expect(Number(during.body.toString().split(' ')[0])).not.toBe(pid);
  });
});

describe.skipIf(NGINX.skip || SPAWN_FCGI.skip)('nginx → tsgi fastcgi --workers 2 under spawn-fcgi (unix socket on fd 0)', () => {
  let dir: string | undefined;
  let proc: ServerProcess | undefined;
  let nginx: FrontServer | undefined;

  beforeAll(async () => {
    NGINX.require();
    const spawnFcgi = SPAWN_FCGI.require();
    dir = await makePrefix('workers-fd');
    const app = installApp(dir, 'v1');
    const socketPath = join(dir, 'tsgi.sock');
    proc = startProcess('spawn-fcgi → tsgi --workers 2', spawnFcgi, [
      '-n', '-s', socketPath, '-M', '0600', '--', execPath, requireCli(), 'fastcgi', app, '--workers', '2',
    ]);
    await proc.waitForOutput(`${READY_LINE} fd:0 with 2 worker(s)`, 15_000);
    await waitForEndpoint({ path: socketPath }, { isAlive: proc.alive, timeoutMs: 5_000 });
    nginx = await startNginx({ upstream: { path: socketPath } });
  });

  afterAll(async () => {
    await nginx?.stop();
    await proc?.stop();
    if (dir !== undefined) await removePrefix(dir);
  });

  it('has both workers accept on the inherited socket, and stops them all on SIGTERM', async () => {
    const pids = (/worker\(s\) \(([\d, ]+);/.exec(proc!.output())?.[1] ?? '').split(', ').map(Number);
    expect(pids).toHaveLength(2);
    // One worker blocks in the app; nginx's next connection can only be accepted by the other.
    const blocked = fetchRaw(`${nginx!.url}/block?1500`, { timeoutMs: 10_000 });
    await expect.poll(() => proc!.output(), { timeout: 5_000 }).toMatch(/blocking in \d+/);
    const blocker = Number(/blocking in (\d+)/.exec(proc!.output())![1]);
    const other = await fetchRaw(`${nginx!.url}/`, { timeoutMs: 10_000 });
    expect(other.status).toBe(200);
    const answered = Number(other.body.toString().split(' ')[0]);
    expect(answered).not.toBe(blocker);
    expect(pids.sort()).toEqual([blocker, answered].sort());
    expect((await blocked).status).toBe(200);

    proc!.child.kill('SIGTERM');
    await expect.poll(() => proc!.output(), { timeout: 10_000 }).toContain('exited: code=0');
    for (const pid of pids) expect(processExists(pid)).toBe(false);
  });
});
