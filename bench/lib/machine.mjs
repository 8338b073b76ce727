// Describes the machine and software a benchmark ran on, for the JSON and docs/performance.md.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { NGINX } from './nginx.mjs';
import { REPO } from './paths.mjs';
import { wrkVersion } from './wrk.mjs';

function run(command, args) {
  const result = spawnSync(command, args, { cwd: REPO, encoding: 'utf8' });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.trim() : undefined;
}

export function clockTicksPerSecond() {
  return Number(run('getconf', ['CLK_TCK'])) || 100;
}

export function describeMachine() {
  let cpuModel;
  try {
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  } catch {
    cpuModel = undefined;
  }
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    loadAverageAtStart: loadavg().map((value) => Number(value.toFixed(2))),
    node: process.version,
    nginx: run(NGINX, ['-v'])?.replace(/^nginx version: /, ''),
    wrk: wrkVersion(spawnSync),
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
    // Uncommitted changes under src/ mean the numbers are for the working tree, not the commit.
    srcDirty: (run('git', ['status', '--porcelain', '--', 'src']) ?? '') !== '',
  };
}
