// One benchmark at a time on this machine: two loads at once would each measure the other.

import { openSync, readFileSync, rmSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS } from './paths.mjs';
import { sleep } from './proc.mjs';

const LOCK = join(RESULTS, '.lock');

function holder() {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8').trim());
    process.kill(pid, 0); // throws when no such process: the lock is stale
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Takes bench/results/.lock (holding our pid), waiting up to `waitMs` while another live benchmark
 * holds it; a lock left by a dead process is taken over. Released when this process exits.
 * @throws when the other benchmark is still running after `waitMs`.
 */
export async function acquireLock(log, waitMs = 30 * 60_000) {
  mkdirSync(RESULTS, { recursive: true });
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      process.once('exit', () => {
        if (holder() === process.pid) rmSync(LOCK, { force: true });
      });
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const pid = holder();
    if (pid === undefined) {
      rmSync(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`bench: another benchmark (pid ${pid}) is still running; try again later`);
    if (!told) log(`bench: waiting for the benchmark already running (pid ${pid}) to finish\n`);
    told = true;
    await sleep(2_000);
  }
}
