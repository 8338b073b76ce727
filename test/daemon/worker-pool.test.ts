// Tests the primary's WorkerPool (daemon/workers.ts) against a fake node:cluster: orders, reloads, respawns and timers, deterministically.

import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** A worker as the pool sees it: what it was sent, whether it was killed. */
class FakeWorker extends EventEmitter {
  readonly sent: unknown[] = [];
  readonly killed: string[] = [];
  connected = true;
  readonly process: { pid: number; kill: (signal: string) => void };
  constructor(pid: number) {
    super();
    this.process = { pid, kill: (signal) => void this.killed.push(signal) };
  }
  isConnected(): boolean {
    return this.connected;
  }
  send(message: unknown, callback: () => void): void {
    this.sent.push(message);
    callback();
  }
}

/** A stand-in for node:cluster's primary side: fork() makes a FakeWorker, the test emits its events. */
const fake = Object.assign(new EventEmitter(), {
  SCHED_NONE: 1,
  schedulingPolicy: 2,
  setupPrimary: () => {},
  forked: [] as FakeWorker[],
  fork(): FakeWorker {
    const worker = new FakeWorker(100 + fake.forked.length);
    fake.forked.push(worker);
    return worker;
  },
});
// Called when workers.ts is imported below, after `fake` exists.
vi.mock('node:cluster', () => ({ default: fake }));

const { WorkerPool } = await import('../../src/daemon/workers.js');

const forked = (): FakeWorker[] => fake.forked;
const listen = (worker: FakeWorker): void => void fake.emit('message', worker, { tsgi: 'listening' });
const retire = (worker: FakeWorker): void => void fake.emit('message', worker, { tsgi: 'retiring' });
const exit = (worker: FakeWorker, code = 0): void => void fake.emit('exit', worker, code, null);
const stopped = (worker: FakeWorker): boolean => worker.sent.some((m) => (m as { tsgi?: string }).tsgi === 'stop');
/** Lets the pool's promise continuations run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

let log: string[];
function pool(workers = 2) {
  return new WorkerPool({ workers, env: {}, log: (line) => void log.push(line), graceMs: 1000 });
}
/** A pool of `workers` started and listening. */
async function started(workers = 2) {
  const p = pool(workers);
  const starting = p.start();
  listen(forked()[0]!);
  await settle();
  for (const worker of forked().slice(1)) listen(worker);
  expect(await starting).toBe(true);
  return p;
}
/** Live workers: forked, not exited. */
const live = (exited: Set<FakeWorker>): FakeWorker[] => forked().filter((w) => !exited.has(w));

beforeEach(() => {
  vi.useFakeTimers();
  fake.forked = [];
  log = [];
});
afterEach(() => {
  fake.removeAllListeners();
  vi.useRealTimers();
});

describe('WorkerPool', () => {
  it('starts one worker, then the others once it listens', async () => {
    const p = pool(3);
    const starting = p.start();
    expect(forked()).toHaveLength(1);
    listen(forked()[0]!);
    await settle();
    expect(forked()).toHaveLength(3);
    for (const worker of forked().slice(1)) listen(worker);
    expect(await starting).toBe(true);
    expect(p.pids).toEqual([100, 101, 102]);
  });
});

describe('WorkerPool --max-requests', () => {
  it('keeps a retiring worker serving while its replacement cannot start, retrying with backoff, and says so', async () => {
    await started(1);
    retire(forked()[0]!);
    for (const [i, delay] of [[1, 100], [2, 200], [3, 400]] as const) {
      exit(forked()[i]!, 1);
      expect(log.at(-1)).toBe(`tsgi: worker ${100 + i} exited with code 1 before it listened; worker 100 serves on; starting another in ${delay} ms\n`);
      await vi.advanceTimersByTimeAsync(delay);
      expect(forked()).toHaveLength(i + 2);
    }
    expect(stopped(forked()[0]!)).toBe(false);
    listen(forked()[4]!);
    expect(stopped(forked()[0]!)).toBe(true);
  });
});

describe('WorkerPool reload', () => {
  it('runs a reload asked for during the first start once that start is done', async () => {
    const p = pool(2);
    const starting = p.start();
    await p.reload();
    expect(forked()).toHaveLength(1);
    expect(log.join('')).toContain('once they listen');
    listen(forked()[0]!);
    await settle();
    listen(forked()[1]!);
    expect(await starting).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(forked()).toHaveLength(3);
    expect(log.join('')).toContain('reloading: starting 2 new worker(s)');
  });

  it('runs a reload asked for (twice) during a reload once more after it, with code loaded after the last ask', async () => {
    const p = await started(2);
    const first = p.reload();
    void p.reload();
    void p.reload();
    listen(forked()[2]!);
    await settle();
    listen(forked()[3]!);
    await first;
    await vi.advanceTimersByTimeAsync(0);
    // One more set, not two.
    expect(forked()).toHaveLength(5);
    listen(forked()[4]!);
    await settle();
    expect(forked()).toHaveLength(6);
    listen(forked()[5]!);
    await settle();
    expect(forked().slice(0, 4).every(stopped)).toBe(true);
    expect(forked().slice(4).some(stopped)).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(forked()).toHaveLength(6);
  });

  it('leaves N workers when an old one died during the reload and was replaced', async () => {
    const p = await started(2);
    const exited = new Set<FakeWorker>();
    const reloading = p.reload();
    const [a] = forked();
    exit(a!, 3);
    exited.add(a!);
    await vi.advanceTimersByTimeAsync(100);
    expect(forked()).toHaveLength(4); // a's replacement, old generation
    listen(forked()[3]!);
    listen(forked()[2]!);
    await settle();
    listen(forked()[4]!);
    await reloading;
    // Everything but the new set is told to stop.
    expect(live(exited).filter((w) => !stopped(w)).map((w) => w.process.pid)).toEqual([102, 104]);
  });

  it('cancels an old worker’s pending respawn when the reload completes', async () => {
    const p = await started(2);
    const reloading = p.reload();
    listen(forked()[2]!);
    await settle();
    exit(forked()[0]!, 3); // respawn due in 100 ms
    listen(forked()[3]!);
    await reloading;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(forked()).toHaveLength(4);
  });

  it("stops an old worker's --max-requests replacement with the old worker", async () => {
    const p = await started(2);
    const reloading = p.reload();
    retire(forked()[0]!);
    expect(forked()).toHaveLength(4); // [2] new set, [3] replacement of [0]
    listen(forked()[2]!);
    await settle();
    listen(forked()[4]!);
    await reloading;
    expect(stopped(forked()[3]!)).toBe(true);
    expect([2, 4].map((i) => stopped(forked()[i]!))).toEqual([false, false]);
  });

  it('stops the new set, and the respawns of its workers, when one of it cannot start', async () => {
    const p = await started(2);
    const reloading = p.reload();
    listen(forked()[2]!);
    await settle();
    exit(forked()[2]!, 3); // listened, then crashed: respawned
    await vi.advanceTimersByTimeAsync(100);
    expect(forked()).toHaveLength(5);
    exit(forked()[3]!, 1); // never listened: the reload fails
    await reloading;
    expect(log.join('')).toContain('the running workers stay');
    expect(stopped(forked()[4]!)).toBe(true);
    expect([0, 1].map((i) => stopped(forked()[i]!))).toEqual([false, false]);
  });
});

describe('WorkerPool stops', () => {
  it('kills a worker told to stop that has not exited --grace-ms + 5 s later', async () => {
    const p = await started(1);
    const reloading = p.reload();
    listen(forked()[1]!);
    await reloading;
    expect(stopped(forked()[0]!)).toBe(true);
    await vi.advanceTimersByTimeAsync(1000 + 5000 - 1);
    expect(forked()[0]!.killed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(forked()[0]!.killed).toEqual(['SIGKILL']);
    expect(log.join('')).toContain('worker 100 has not exited 6000 ms after it was told to stop; killing it');
    // One that exits in time is not killed.
    retire(forked()[1]!);
    listen(forked()[2]!);
    exit(forked()[1]!);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(forked()[1]!.killed).toEqual([]);
  });

  it('ends a reload under way when the pool closes, without a misleading line', async () => {
    const p = await started(2);
    let reloaded = false;
    void p.reload().then(() => (reloaded = true));
    const closing = p.close(1000);
    for (const worker of forked()) exit(worker);
    await closing;
    await settle();
    expect(reloaded).toBe(true);
    expect(log.join('')).not.toContain('the running workers stay');
  });

  it('resolves start() with false when the pool closes while it starts, killing nothing', async () => {
    const p = pool(2);
    const starting = p.start();
    listen(forked()[0]!);
    await settle();
    const closing = p.close(1000);
    expect(forked().every(stopped)).toBe(true);
    exit(forked()[1]!);
    expect(await starting).toBe(false);
    expect(forked()[0]!.killed).toEqual([]);
    exit(forked()[0]!);
    await closing;
  });

  it('forks nothing after close(), when a respawn was pending', async () => {
    const p = await started(1);
    exit(forked()[0]!, 3);
    await p.close(1000);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(forked()).toHaveLength(1);
  });
});
