// Tests the daemon's signal handling: graceful stop, a second signal, and exiting when the app keeps a timer.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createStopper, stopOnSignals, type Stoppable } from '../../src/daemon/lifecycle.js';
import { FastCgiClient } from '../../src/fastcgi/client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.cjs');

/** A target whose graceful close resolves when the test says so. */
function target() {
  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));
  const calls: string[] = [];
  const stoppable: Stoppable = {
    close: (graceMs) => (calls.push(`close ${graceMs}`), closed),
    destroy: () => void calls.push('destroy'),
  };
  return { stoppable, calls, finish };
}

let uninstall: (() => void) | undefined;
afterEach(() => {
  uninstall?.();
  uninstall = undefined;
});

/** Installs the handlers and returns the one added for SIGTERM, to call directly (no real signal). */
function install(targets: Stoppable[], exit: (code: number) => void, log: string[]) {
  const before = new Set(process.listeners('SIGTERM'));
  uninstall = stopOnSignals(targets, (line) => log.push(line), 500, { exit });
  const added = process.listeners('SIGTERM').filter((listener) => !before.has(listener));
  expect(added).toHaveLength(1);
  return added[0] as (signal: NodeJS.Signals) => void;
}

describe('stopOnSignals', () => {
  it('closes every target gracefully, then calls exit(0) once all have closed', async () => {
    const a = target();
    const b = target();
    const exits: number[] = [];
    const log: string[] = [];
    const onSignal = install([a.stoppable, b.stoppable], (code) => exits.push(code), log);
    onSignal('SIGTERM');
    expect(a.calls).toEqual(['close 500']);
    expect(b.calls).toEqual(['close 500']);
    a.finish();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(exits).toEqual([]); // b is still closing
    b.finish();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(exits).toEqual([0]);
    expect(log.join('')).toContain('SIGTERM, stopping gracefully (up to 500 ms)');
  });

  it('destroys every target and calls exit(1) on a second signal', () => {
    const a = target();
    const exits: number[] = [];
    const onSignal = install([a.stoppable], (code) => exits.push(code), []);
    onSignal('SIGTERM');
    onSignal('SIGTERM');
    expect(a.calls).toEqual(['close 500', 'destroy']);
    expect(exits).toEqual([1]);
  });

  it('stops gracefully on the first signal after a stop that began otherwise (a worker told by its primary)', () => {
    const a = target();
    const exits: number[] = [];
    const log: string[] = [];
    const stopper = createStopper([a.stoppable], (line) => log.push(line), 500, { exit: (code) => exits.push(code) });
    const before = new Set(process.listeners('SIGTERM'));
    uninstall = stopOnSignals(stopper, () => {});
    const onSignal = process.listeners('SIGTERM').find((listener) => !before.has(listener)) as (signal: NodeJS.Signals) => void;
    expect(stopper.stop('told to stop by the primary')).toBe(true);
    onSignal('SIGTERM'); // systemd signals every process of the unit
    expect(a.calls).toEqual(['close 500']);
    expect(exits).toEqual([]);
    onSignal('SIGTERM');
    expect(a.calls).toEqual(['close 500', 'destroy']);
    expect(exits).toEqual([1]);
    expect(log.join('')).toContain('SIGTERM again, stopping now');
  });

  it('removes its handlers when asked', () => {
    const before = process.listenerCount('SIGTERM');
    const remove = stopOnSignals([], () => {}, 500, { exit: () => {} });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    remove();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});

const LINGERING = join(ROOT, 'test', 'fixtures', 'lingering.mjs');

/** Starts the built CLI with `args` (an app that keeps a timer); its stderr so far, and its exit code within 5 s. */
function startLingering(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const exitCode = () => Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))]);
  return { child, stderr: () => stderr, exitCode };
}

describe('tsgi fastcgi on SIGTERM', () => {
  it('exits 0 after serving, although the app keeps a setInterval running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-lifecycle-'));
    const path = join(dir, 'tsgi.sock');
    const { child, stderr, exitCode } = startLingering(['fastcgi', LINGERING, '--listen', path]);
    try {
      await expect.poll(stderr, { timeout: 10_000 }).toContain('fastcgi listening');
      const client = await FastCgiClient.connect({ path });
      const res = await client.request({
        params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
      });
      let body = '';
      for await (const chunk of res.body) body += Buffer.from(chunk).toString();
      expect(body).toBe('done\n');
      expect(stderr().match(/fastcgi listening on/g)).toHaveLength(1);
      child.kill('SIGTERM');
      expect(await exitCode()).toBe(0);
      expect(stderr()).toContain('SIGTERM, stopping gracefully');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 0 on SIGTERM under tsgi dev too, although the app keeps a setInterval running', async () => {
    const { child, stderr, exitCode } = startLingering(['dev', LINGERING, '--port', '0']);
    try {
      await expect.poll(stderr, { timeout: 10_000 }).toContain('development server on');
      child.kill('SIGTERM');
      expect(await exitCode()).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

const FASTIFY_CLOSE = join(ROOT, 'test', 'fixtures', 'fastify-close.mjs');

/** `tsgi fastcgi` on a unix socket with the Fastify fixture (CLOSE_FIXTURE=`mode`); its stderr, and its exit code within 5 s. */
async function startFastify(mode: 'finish' | 'hang' | 'throw', args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-app-close-'));
  const path = join(dir, 'tsgi.sock');
  const child = spawn(process.execPath, [CLI, 'fastcgi', FASTIFY_CLOSE, '--listen', path, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CLOSE_FIXTURE: mode },
  });
  cleanups.push(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const exitCode = () => Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))]);
  await expect.poll(() => stderr, { timeout: 10_000 }).toContain('fastcgi listening');
  return { child, path, stderr: () => stderr, exitCode };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe("tsgi fastcgi runs the app's close() on a graceful stop (docs/spec.md \"Closing the app\")", () => {
  it("runs a Fastify app's onClose hook to its end on SIGTERM, after the last request, then exits 0", async () => {
    const daemon = await startFastify('finish');
    const client = await FastCgiClient.connect({ path: daemon.path });
    const res = await client.request({
      params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
    });
    let body = '';
    for await (const chunk of res.body) body += Buffer.from(chunk).toString();
    expect(body).toBe('hello from fastify\n');
    expect(daemon.stderr()).not.toContain('onClose');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    const pid = daemon.child.pid;
    expect(daemon.stderr()).toMatch(new RegExp(`SIGTERM, stopping gracefully[^]*onClose started in ${pid}\\nonClose finished in ${pid}\\n`));
  });

  it('logs an onClose hook that throws as one line, without a stack, and still exits 0', async () => {
    const daemon = await startFastify('throw');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    const after = daemon.stderr().split('onClose started')[1] ?? '';
    expect(after).toMatch(/^ in \d+\ntsgi: the app's close\(\) failed: Error: cannot flush the queue \(at .*fastify-close\.mjs:\d+:\d+\)\n$/);
  });

  it('does not let an onClose hook that hangs keep the process past --grace-ms', async () => {
    const daemon = await startFastify('hang', ['--grace-ms', '300']);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    expect(daemon.stderr()).toContain('onClose started');
    expect(daemon.stderr()).toMatch(/the app's close\(\) did not finish within \d+ ms \(what was left of the 300 ms grace period\); not waiting for it/);
  });

  it('stops at once, exit status 1, on a second SIGTERM while the onClose hook hangs', async () => {
    const daemon = await startFastify('hang');
    daemon.child.kill('SIGTERM');
    await expect.poll(daemon.stderr, { timeout: 5_000 }).toContain('onClose started');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(1);
    expect(daemon.stderr()).toContain('SIGTERM again, stopping now');
  });
});

describe("tsgi dev runs the app's close() on SIGTERM too", () => {
  it("runs a Fastify app's onClose hook to its end, then exits 0", async () => {
    const child = spawn(process.execPath, [CLI, 'dev', FASTIFY_CLOSE, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await expect.poll(() => stderr, { timeout: 10_000 }).toContain('development server on');
    child.kill('SIGTERM');
    expect(await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))])).toBe(0);
    expect(stderr).toContain(`onClose started in ${child.pid}\nonClose finished in ${child.pid}\n`);
  });
});
