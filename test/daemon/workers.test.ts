// Tests the daemon's worker processes (`tsgi fastcgi --workers N`): pure parts, then the built CLI.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { workerCount } from '../../src/cli/fastcgi.js';
import type { Stopper } from '../../src/daemon/lifecycle.js';
import { WorkerSide, type WorkerMessage } from '../../src/daemon/worker.js';
import { respawnDelayMs } from '../../src/daemon/workers.js';
import { FastCgiClient, type FastCgiAddress } from '../../src/fastcgi/client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.cjs');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'workers-app.mjs');
/** python3, to play systemd's part in the socket-activation test (.ci/run installs it). */
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3', '/bin/python3'].find((path) => existsSync(path));

describe('respawnDelayMs', () => {
  it('waits nothing after a worker that lived, then 100 ms doubling per young death, up to 10 s', () => {
    expect([0, 1, 2, 3, 7, 8, 30, 1000].map(respawnDelayMs)).toEqual([0, 100, 200, 400, 6400, 10_000, 10_000, 10_000]);
  });
});

describe('workerCount (--workers)', () => {
  it('takes 1 to 256, and auto as one per CPU', () => {
    expect(workerCount('1')).toBe(1);
    expect(workerCount('256')).toBe(256);
    expect(workerCount('auto')).toBeGreaterThanOrEqual(1);
    for (const bad of ['0', '-1', '1.5', 'two', '257', '']) expect(() => workerCount(bad), bad).toThrow(/--workers/);
  });
});

describe('WorkerSide', () => {
  function side(maxRequests: number) {
    const sent: WorkerMessage[] = [];
    const orders: string[] = [];
    const stopper: Stopper = { stop: (why) => (orders.push(`stop: ${why}`), true), stopNow: (why) => void orders.push(`now: ${why}`) };
    return { sent, orders, side: new WorkerSide({ maxRequests, send: (m) => sent.push(m), stopper }) };
  }

  it('asks to retire once, at --max-requests, and keeps counting', () => {
    const { sent, side: s } = side(3);
    s.listening();
    s.requestDone();
    s.requestDone();
    expect(sent).toEqual([{ tsgi: 'listening' }]);
    s.requestDone();
    s.requestDone();
    expect(sent).toEqual([{ tsgi: 'listening' }, { tsgi: 'retiring' }]);
  });

  it('never retires without --max-requests', () => {
    const { sent, side: s } = side(0);
    for (let i = 0; i < 1000; i++) s.requestDone();
    expect(sent).toEqual([]);
  });

  it("obeys the primary's stop and stop-now, says why, and ignores other messages", () => {
    const { orders, side: s } = side(1);
    s.receive('stop');
    s.receive({ cmd: 'stop' });
    s.receive({ tsgi: 'reboot' });
    expect(orders).toEqual([]);
    s.requestDone();
    s.receive({ tsgi: 'stop' });
    s.receive({ tsgi: 'stop-now' });
    expect(orders).toEqual(['stop: served 1 requests (--max-requests)', 'now: told to stop at once by the primary']);
  });
});

// ---- the built CLI with --workers ----

interface Daemon {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  dir: string;
}

let running: Daemon[] = [];
afterEach(async () => {
  for (const daemon of running) {
    if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    rmSync(daemon.dir, { recursive: true, force: true });
  }
  running = [];
});

/** The fixture app in a directory of its own, at `version`. */
function appDir(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-workers-'));
  copyFileSync(FIXTURE, join(dir, 'app.mjs'));
  writeFileSync(join(dir, 'workers-version.txt'), version);
  return dir;
}

/** `detached`: in a process group of its own, for signals to the whole group (as systemd and a terminal send). */
function startCli(dir: string, args: string[], detached = false): Daemon {
  const child = spawn(process.execPath, [CLI, 'fastcgi', join(dir, 'app.mjs'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const daemon = { child, stderr: () => stderr, exited, dir };
  running.push(daemon);
  return daemon;
}

/** Starts `--workers` on a port of its own; resolves with the address once the primary says all listen. */
async function startWorkers(dir: string, args: string[], detached = false): Promise<Daemon & { address: FastCgiAddress }> {
  const daemon = startCli(dir, ['--listen', '127.0.0.1:0', ...args], detached);
  await expect.poll(daemon.stderr, { timeout: 15_000 }).toMatch(/listening on 127\.0\.0\.1:\d+ with \d+ worker/);
  const port = Number(/listening on 127\.0\.0\.1:(\d+) with/.exec(daemon.stderr())![1]);
  return { ...daemon, address: { host: '127.0.0.1', port } };
}

/** One GET on a new connection: the body ("<pid> <version> <multiprocess>"). */
async function get(address: FastCgiAddress, path = '/', query = ''): Promise<string> {
  const client = await FastCgiClient.connect(address);
  try {
    const res = await client.request({
      params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: path, QUERY_STRING: query, SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
    });
    let body = '';
    for await (const chunk of res.body) body += Buffer.from(chunk).toString();
    expect(res.status).toBe(200);
    return body;
  } finally {
    client.close();
  }
}

const pidOf = (body: string): number => Number(body.split(' ')[0]);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('tsgi fastcgi --workers', () => {
  it('serves from several processes accepting on one socket, with tsgi.multiprocess true', async () => {
    const daemon = await startWorkers(appDir('v1'), ['--workers', '2']);
    const pids = (/worker\(s\) \(([\d, ]+);/.exec(daemon.stderr())![1] ?? '').split(', ').map(Number);
    expect(pids).toHaveLength(2);
    expect(daemon.stderr().match(/fastcgi listening on/g)).toHaveLength(1); // the primary's line, for all
    // One worker blocks its event loop in the app; the next connection can only be accepted by the other.
    const blocked = get(daemon.address, '/block', '1500');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toMatch(/blocking in \d+/);
    const blocker = Number(/blocking in (\d+)/.exec(daemon.stderr())![1]);
    const other = await get(daemon.address);
    expect(pidOf(other)).not.toBe(blocker);
    expect(pids).toContain(pidOf(other));
    expect(other.endsWith('v1 true')).toBe(true);
    expect(pidOf(await blocked)).toBe(blocker);
  });

  it('replaces a worker that dies, and keeps serving', async () => {
    const daemon = await startWorkers(appDir('v1'), ['--workers', '1']);
    const first = pidOf(await get(daemon.address));
    await expect(get(daemon.address, '/crash')).rejects.toThrow();
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`worker ${first} exited with code 3; starting another`);
    // The socket is bound again when the new worker listens: poll until it answers.
    let answer = '';
    await expect
      .poll(async () => (answer = await get(daemon.address).catch(() => '')), { timeout: 10_000 })
      .toMatch(/^\d+ v1 true$/);
    expect(pidOf(answer)).not.toBe(first);
    expect(alive(first)).toBe(false);
  });

  // PHP-FPM's and gunicorn's masters hold the listening socket: a connection made while no worker
  // is up waits in the kernel's backlog for the next one to accept it, rather than being refused.
  it.each(['tcp', 'unix'] as const)('keeps the %s socket open while the only worker is replaced: a connection then waits, and is served', async (kind) => {
    const dir = appDir('v1');
    const path = join(dir, 'tsgi.sock');
    let address: FastCgiAddress = { path };
    let daemon: Daemon;
    if (kind === 'tcp') {
      ({ address, ...daemon } = await startWorkers(dir, ['--workers', '1']));
    } else {
      daemon = startCli(dir, ['--listen', path, '--workers', '1']);
      await expect.poll(daemon.stderr, { timeout: 15_000 }).toContain(`listening on ${path} with 1 worker(s)`);
    }
    const first = pidOf(await get(address));
    // The replacement takes a while to load the app: the gap a connection must wait through.
    writeFileSync(join(dir, 'workers-load-ms.txt'), '1000');
    process.kill(first, 'SIGKILL');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`worker ${first} was killed by SIGKILL; starting another`);
    // Connected at once (no worker listens yet: the replacement loads for a second), answered later.
    const answer = await get(address);
    expect(answer).toMatch(/^\d+ v1 true$/);
    expect(pidOf(answer)).not.toBe(first);
  });

  it('retires a worker after --max-requests once its replacement listens, losing no request', async () => {
    const daemon = await startWorkers(appDir('v1'), ['--workers', '1', '--max-requests', '3']);
    const served = new Map<number, number>();
    for (let i = 0; i < 12; i++) {
      const pid = pidOf(await get(daemon.address));
      served.set(pid, (served.get(pid) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Every worker but the last served its 3 (and the requests that came while its replacement
    // started), and was then replaced: how many were replaced is the machine's timing.
    const counts = [...served.values()];
    expect(counts.length).toBeGreaterThanOrEqual(2);
    for (const count of counts.slice(0, -1)) expect(count).toBeGreaterThanOrEqual(3);
    expect(daemon.stderr()).toMatch(/served \d+ requests \(--max-requests\), stopping gracefully/);
    const [first] = served.keys();
    await expect.poll(() => alive(first!), { timeout: 5_000 }).toBe(false);
    // The retired worker ran the app's close() hook before it exited (docs/spec.md "Closing the app").
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`closed ${first}\n`);
  });

  it('reloads on SIGHUP: new workers with the new code, the old ones stopped, no request lost', async () => {
    const dir = appDir('v1');
    const daemon = await startWorkers(dir, ['--workers', '2']);
    const before = new Set((/worker\(s\) \(([\d, ]+);/.exec(daemon.stderr())![1] ?? '').split(', ').map(Number));
    writeFileSync(join(dir, 'workers-version.txt'), 'v2');
    daemon.child.kill('SIGHUP');
    // Requests go on during the reload; every one is answered, by the old code or the new.
    const answers: string[] = [];
    const deadline = Date.now() + 15_000;
    while (!answers.at(-1)?.includes(' v2 ') && Date.now() < deadline) answers.push(await get(daemon.address));
    expect(answers.at(-1)).toMatch(/^\d+ v2 true$/);
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain('tsgi: reloaded: workers');
    for (const pid of before) await expect.poll(() => alive(pid), { timeout: 5_000 }).toBe(false);
    expect(before.has(pidOf(answers.at(-1)!))).toBe(false);
    // Each old worker closed the app it was serving as it went (docs/spec.md "Closing the app").
    for (const pid of before) await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`closed ${pid}\n`);
  });

  it('keeps the running workers when the reloaded app cannot load', async () => {
    const dir = appDir('v1');
    const daemon = await startWorkers(dir, ['--workers', '2']);
    writeFileSync(join(dir, 'workers-version.txt'), 'broken');
    daemon.child.kill('SIGHUP');
    await expect.poll(daemon.stderr, { timeout: 10_000 }).toMatch(/before it listened \(its error is above\); the running workers stay/);
    expect(daemon.stderr()).toContain('this app version cannot load');
    expect(await get(daemon.address)).toMatch(/^\d+ v1 true$/);
  });

  it('reloads once started on a SIGHUP that came while the workers were loading (systemctl reload right after start)', async () => {
    const dir = appDir('v1');
    writeFileSync(join(dir, 'workers-load-ms.txt'), '700');
    const daemon = startCli(dir, ['--listen', '127.0.0.1:0', '--workers', '2']);
    await expect.poll(daemon.stderr, { timeout: 10_000 }).toMatch(/loading in \d+/);
    daemon.child.kill('SIGHUP');
    await expect.poll(daemon.stderr, { timeout: 15_000 }).toContain('tsgi: reloaded: workers');
    expect(daemon.child.exitCode).toBe(null);
    expect(daemon.stderr()).toMatch(/with 2 worker\(s\)[^]*reloading: starting 2 new worker\(s\)/);
  });

  it('stops with exit status 0 on a SIGTERM while the workers load, at start and during a reload', async () => {
    const dir = appDir('v1');
    writeFileSync(join(dir, 'workers-load-ms.txt'), '700');
    const starting = startCli(dir, ['--listen', '127.0.0.1:0', '--workers', '2']);
    await expect.poll(starting.stderr, { timeout: 10_000 }).toMatch(/loading in \d+/);
    starting.child.kill('SIGTERM');
    expect(await starting.exited).toBe(0);
    expect(starting.stderr()).not.toContain('worker(s)');
    expect(starting.stderr()).toContain('tsgi: SIGTERM, stopping gracefully');

    rmSync(join(dir, 'workers-load-ms.txt'));
    const daemon = await startWorkers(dir, ['--workers', '2', '--grace-ms', '3000']);
    writeFileSync(join(dir, 'workers-load-ms.txt'), '3000');
    daemon.child.kill('SIGHUP');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toMatch(/loading in \d+/);
    daemon.child.kill('SIGTERM');
    // The loading worker obeys the stop at once, rather than listening and being killed 3 + 5 s on.
    expect(await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 2_500))])).toBe(0);
    expect(daemon.stderr().split('stopping gracefully')[1]).not.toContain('fastcgi listening');
  });

  it('exits 1 at start, naming the error once, when the app cannot load', async () => {
    const daemon = startCli(appDir('broken'), ['--listen', '127.0.0.1:0', '--workers', '3']);
    expect(await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 15_000))])).toBe(1);
    expect(daemon.stderr().match(/this app version cannot load/g)).toHaveLength(1);
    expect(daemon.stderr()).toContain('before it listened');
  });

  it('stops gracefully on SIGTERM: a running request completes, then every process exits 0', async () => {
    const daemon = await startWorkers(appDir('v1'), ['--workers', '2']);
    const pids = (/worker\(s\) \(([\d, ]+);/.exec(daemon.stderr())![1] ?? '').split(', ').map(Number);
    const slow = get(daemon.address, '/block', '800');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toMatch(/blocking in \d+/);
    daemon.child.kill('SIGTERM');
    expect(await slow).toMatch(/^\d+ v1 true$/);
    expect(await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 10_000))])).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    // Every worker ran the app's close() before it exited, the one that was still serving included.
    for (const pid of pids) await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`closed ${pid}\n`);
  });

  it('stops gracefully when SIGTERM reaches every process at once (systemd KillMode=control-group, a terminal)', async () => {
    const daemon = await startWorkers(appDir('v1'), ['--workers', '2'], true);
    const slow = get(daemon.address, '/block', '800');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toMatch(/blocking in \d+/);
    process.kill(-daemon.child.pid!, 'SIGTERM');
    expect(await slow).toMatch(/^\d+ v1 true$/);
    expect(await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 10_000))])).toBe(0);
    expect(daemon.stderr()).not.toContain('stopping now');
  });

  it('shares a unix socket it creates with --socket-mode, and removes it when stopped', async () => {
    const dir = appDir('v1');
    const path = join(dir, 'tsgi.sock');
    const daemon = startCli(dir, ['--listen', path, '--socket-mode', '0600', '--workers', '2']);
    await expect.poll(daemon.stderr, { timeout: 15_000 }).toContain(`listening on ${path} with 2 worker(s)`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await get({ path })).toMatch(/^\d+ v1 true$/);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('keeps running when its unix socket file was removed, through a reload and a stop', async () => {
    const dir = appDir('v1');
    const path = join(dir, 'tsgi.sock');
    const daemon = startCli(dir, ['--listen', path, '--workers', '1']);
    await expect.poll(daemon.stderr, { timeout: 15_000 }).toContain(`listening on ${path} with 1 worker(s)`);
    rmSync(path);
    daemon.child.kill('SIGHUP');
    await expect.poll(daemon.stderr, { timeout: 10_000 }).toContain('tsgi: reloaded: workers');
    expect(daemon.child.exitCode).toBe(null);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  // systemd's socket activation, as systemd does it: a listening socket on fd 3, LISTEN_FDS=1 and
  // LISTEN_PID naming the process (python3 binds, then execs the CLI in the same process).
  function startSystemd(dir: string, args: string[]): Daemon & { address: () => FastCgiAddress } {
    const script = [
      'import os, socket, sys',
      's = socket.socket()',
      "s.bind(('127.0.0.1', 0))",
      's.listen(64)',
      'print(s.getsockname()[1], flush=True)',
      'if s.fileno() != 3: os.dup2(s.fileno(), 3)',
      'os.set_inheritable(3, True)',
      "os.environ['LISTEN_FDS'] = '1'",
      "os.environ['LISTEN_PID'] = str(os.getpid())",
      "os.environ['LISTEN_FDNAMES'] = 'tsgi'",
      'os.execv(sys.argv[1], sys.argv[1:])',
    ].join('\n');
    const child = spawn(PYTHON ?? 'python3', ['-c', script, process.execPath, CLI, 'fastcgi', join(dir, 'app.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const daemon = { child, stderr: () => stderr, exited, dir };
    running.push(daemon);
    return { ...daemon, address: () => ({ host: '127.0.0.1', port: Number(stdout.trim()) }) };
  }

  it.skipIf(PYTHON === undefined && !process.env.CI)('serves a systemd socket (fd 3) from every worker', async () => {
    const daemon = startSystemd(appDir('v1'), ['--workers', '2']);
    const stderr = daemon.stderr;
    await expect.poll(stderr, { timeout: 15_000 }).toContain('listening on fd:3 with 2 worker(s)');
    const address = daemon.address();
    const pids = (/worker\(s\) \(([\d, ]+);/.exec(stderr())![1] ?? '').split(', ').map(Number);
    const blocked = get(address, '/block', '1500');
    await expect.poll(stderr, { timeout: 5_000 }).toMatch(/blocking in \d+/);
    const blocker = Number(/blocking in (\d+)/.exec(stderr())![1]);
    const other = pidOf(await get(address));
    expect([blocker, other].sort()).toEqual([...pids].sort());
    expect(pidOf(await blocked)).toBe(blocker);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  // sd_listen_fds(3) with unset_environment: once the socket is taken, its variables are gone, so
  // neither the app nor what it starts takes them for its own.
  it.skipIf(PYTHON === undefined && !process.env.CI)('takes LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES out of the environment, with and without --workers', async () => {
    for (const args of [[], ['--workers', '2']]) {
      const daemon = startSystemd(appDir('v1'), args);
      await expect.poll(daemon.stderr, { timeout: 15_000 }).toMatch(/listening on fd:3/);
      const [pid, env] = (await get(daemon.address(), '/env')).split(' ');
      expect(env, args.join(' ')).toBe('{}');
      // The worker's answer, not the primary's (which never loads the app).
      if (args.length > 0) expect(/worker\(s\) \(([\d, ]+);/.exec(daemon.stderr())![1]!.split(', ')).toContain(pid);
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
    }
  });

  // node:cluster, asked to share a descriptor, opened the primary's fd 3 and closed it with the last
  // worker: every replacement then failed to listen ("bind EEXIST"), for good.
  it.skipIf(PYTHON === undefined && !process.env.CI)('serves a systemd socket again after its only worker died', async () => {
    const dir = appDir('v1');
    const daemon = startSystemd(dir, ['--workers', '1']);
    await expect.poll(daemon.stderr, { timeout: 15_000 }).toContain('listening on fd:3 with 1 worker(s)');
    const first = pidOf(await get(daemon.address()));
    writeFileSync(join(dir, 'workers-load-ms.txt'), '1000');
    process.kill(first, 'SIGKILL');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain(`worker ${first} was killed by SIGKILL; starting another`);
    const answer = await get(daemon.address());
    expect(pidOf(answer)).not.toBe(first);
    expect(daemon.stderr()).not.toContain('cannot listen');
  });

  it('refuses --max-requests without --workers, and a bad --workers, before loading the app', async () => {
    for (const args of [['--max-requests', '10'], ['--workers', '0']]) {
      const daemon = startCli(appDir('broken'), ['--listen', '127.0.0.1:0', ...args]);
      expect(await daemon.exited).toBe(2);
      expect(daemon.stderr()).toMatch(/--max-requests needs --workers|invalid --workers 0/);
      expect(daemon.stderr()).not.toContain('cannot load');
    }
  });
});
