// Runs one bounded wrk load and returns its numbers (parsed from the BENCH_RESULT line of report.lua).

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BENCH } from './paths.mjs';
import { cpuTicks, track } from './proc.mjs';

export const WRK = process.env.WRK ?? 'wrk';
const SCRIPT = join(BENCH, 'wrk/report.lua');

/**
 * @param {{ url: string, connections: number, threads: number, durationS: number, bodyBytes?: number }} load
 *   `url` must be on 127.0.0.1; `bodyBytes` makes every request a POST of that many bytes.
 * @returns {Promise<{ requests, durationS, rps, bytes, errors, latencyUs, cpuTicks, raw }>} where
 *   `cpuTicks` is wrk's own CPU time, last sampled (every 100 ms) before it exited.
 */
export function runWrk({ url, connections, threads, durationS, bodyBytes = 0 }) {
  if (!url.startsWith('http://127.0.0.1:')) throw new Error(`bench: refusing to load anything but 127.0.0.1: ${url}`);
  const args = [
    '-t', String(Math.min(threads, connections)),
    '-c', String(connections),
    '-d', `${durationS}s`,
    '--timeout', '10s',
    '--latency',
    '-s', SCRIPT,
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, args, {
      env: { ...process.env, BENCH_BODY_BYTES: String(bodyBytes) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let out = '';
    let ticks = 0;
    const sampler = setInterval(() => {
      ticks = cpuTicks(child.pid) ?? ticks;
    }, 100);
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    // wrk stops itself after -d; this bound only catches a hung run.
    const timer = setTimeout(() => child.kill('SIGKILL'), (durationS + 20) * 1000);
    child.once('error', (error) => {
      clearTimeout(timer);
      clearInterval(sampler);
      reject(new Error(`bench: cannot run ${WRK}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(sampler);
      const line = /^BENCH_RESULT (.*)$/m.exec(out);
      if (line === null) {
        reject(new Error(`bench: wrk ${args.join(' ')} ended (${code ?? signal}) without a result:\n${out}`));
        return;
      }
      const result = JSON.parse(line[1]);
      const seconds = result.duration_us / 1e6;
      resolve({
        requests: result.requests,
        durationS: seconds,
        rps: result.requests / seconds,
        bytes: result.bytes,
        errors: result.errors,
        latencyUs: result.latency_us,
        cpuTicks: ticks,
        raw: out.replace(/^BENCH_RESULT .*\n?/m, ''),
      });
    });
  });
}

/** `wrk --version` prints its banner and a usage text; keep the first line. */
export function wrkVersion(spawnSync) {
  const result = spawnSync(WRK, ['--version'], { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0].trim() || undefined;
}
