// Process plumbing for the benchmark: loopback ports, child processes with bounded start/stop, /proc readings.

import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port the kernel just handed out on 127.0.0.1 (free again once this resolves). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls 127.0.0.1:port until it accepts a connection, the process dies, or `timeoutMs` passes. */
export async function waitForPort(port, { timeoutMs = 10_000, isAlive = () => true } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return;
    if (!isAlive()) throw new Error(`bench: the process exited before 127.0.0.1:${port} accepted connections`);
    await sleep(50);
  }
  throw new Error(`bench: 127.0.0.1:${port} did not accept connections within ${timeoutMs} ms`);
}

/** Every child the benchmark started and has not reaped yet, so an interrupted run can end them by pid. */
const live = new Set();

/** Registers a child for killAllChildren until it exits; `exitSignal` is what ends it then. */
export function track(child, exitSignal = 'SIGKILL') {
  child.exitSignal = exitSignal;
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
}

/**
 * Starts a long-running child and keeps the tail of its output for error messages.
 * @returns {{ pid: number, alive: () => boolean, output: () => string, exited: Promise<number|null>, child }}
 */
export function startChild(name, command, args, { env = process.env, cwd, exitSignal = 'SIGKILL' } = {}) {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let running = true;
  track(child, exitSignal);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve(code ?? signal);
    });
    child.once('error', (error) => {
      running = false;
      output += `\n${name}: ${error.message}`;
      resolve(null);
    });
  });
  return { name, child, pid: child.pid, alive: () => running, output: () => output, exited };
}

/** Waits until the child's stderr/stdout contains `pattern`, bounded by `timeoutMs`. */
export async function waitForOutput(proc, pattern, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(proc.output())) return;
    if (!proc.alive()) throw new Error(`bench: ${proc.name} exited before it was ready:\n${proc.output()}`);
    await sleep(20);
  }
  throw new Error(`bench: ${proc.name} not ready within ${timeoutMs} ms:\n${proc.output()}`);
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(proc, { signal = 'SIGTERM', graceMs = 5_000 } = {}) {
  if (!proc.alive()) return proc.exited;
  // A multi-process backend (php-fpm's master and workers) stops its own workers; should the master
  // need the SIGKILL, they would be orphaned, so remember them and end the ones left afterwards.
  const descendants = processTree(proc.pid).slice(1).map((pid) => ({ pid, start: startTime(pid) }));
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.alive() && proc.child.kill('SIGKILL'), graceMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
    // Only a process with the same start time is the one we started: a pid may have been reused.
    for (const { pid, start } of descendants) {
      try {
        if (start !== undefined && startTime(pid) === start) process.kill(pid, 'SIGKILL');
      } catch {
        // exited between the check and the signal
      }
    }
  }
}

/** The text of /proc/PID/NAME, or undefined once the process is gone (or the file unreadable). */
function procFile(pid, name) {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The fields of /proc/PID/stat after the command name (which may contain spaces and parentheses),
 * so index 0 is field 3 of proc(5), "state"; undefined once the process is gone.
 */
function statFields(pid) {
  const text = procFile(pid, 'stat');
  return text === undefined ? undefined : text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** A process's start time (field 22 of /proc/PID/stat, in clock ticks since boot); undefined once gone. */
function startTime(pid) {
  return statFields(pid)?.[19];
}

/**
 * `pid` and its descendants, parents first, from /proc/PID/task/TID/children (Linux ≥ 3.5 with
 * CONFIG_PROC_CHILDREN, as the nginx worker lookup already assumes). A single-process backend
 * gives `[pid]`; php-fpm gives its master and every worker.
 */
export function processTree(pid) {
  const tree = [];
  const queue = [pid];
  while (queue.length > 0 && tree.length < 10_000) {
    const next = queue.shift();
    tree.push(next);
    let tasks;
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const task of tasks) {
      try {
        for (const child of readFileSync(`/proc/${next}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
          if (child !== '') queue.push(Number(child));
        }
      } catch {
        // the thread or process exited meanwhile
      }
    }
  }
  return tree;
}

/**
 * Signals, by pid, every child still running: on SIGINT, on a fatal error, and from the 'exit' hook
 * below, so no backend or nginx outlives the harness. nginx gets SIGTERM (its master then stops
 * its workers; SIGKILL would orphan them), the backends SIGKILL.
 */
export function killAllChildren() {
  for (const child of live) child.kill(child.exitSignal);
}
process.once('exit', killAllChildren);

/** VmRSS and VmHWM of a live process in KiB, from /proc/PID/status; undefined once it is gone. */
export function memoryKiB(pid) {
  const text = procFile(pid, 'status');
  if (text === undefined) return undefined;
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/**
 * VmRSS summed over a process and its descendants, in KiB, with how many processes that was.
 * For one process this is its VmRSS. For php-fpm it counts the pages the workers share (the PHP
 * binary, opcache's shared memory) once per process, so it overstates the pool's real footprint:
 * {@link pssKiB} is the fair sum, too costly to poll every 100 ms across a pool.
 */
export function treeMemoryKiB(pid) {
  let rss = 0;
  let processes = 0;
  for (const member of processTree(pid)) {
    const memory = memoryKiB(member);
    if (memory === undefined) continue;
    rss += memory.rss;
    processes++;
  }
  return processes === 0 ? undefined : { rss, processes };
}

/** Pss (shared pages divided among the processes mapping them) summed over the tree, in KiB, from smaps_rollup. */
export function pssKiB(pid) {
  let total = 0;
  for (const member of processTree(pid)) {
    const text = procFile(member, 'smaps_rollup'); // undefined: exited meanwhile
    total += Number((text === undefined ? undefined : /^Pss:\s+(\d+) kB/m.exec(text)?.[1]) ?? 0);
  }
  return total;
}

/** User + system CPU time of a process (all its threads) in clock ticks, from /proc/PID/stat. */
export function cpuTicks(pid) {
  const fields = statFields(pid);
  if (fields === undefined) return undefined;
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
}

/**
 * CPU ticks of a process and its live descendants (php-fpm's master and workers; for one process
 * the same as {@link cpuTicks}), plus the root's cutime + cstime so a worker that exited and was
 * reaped between two readings still counts. `pids` is the tree to read, taken once per run.
 */
export function treeCpuTicks(pids) {
  let total = 0;
  for (const [index, pid] of pids.entries()) {
    const fields = statFields(pid);
    if (fields === undefined) continue;
    total += Number(fields[11]) + Number(fields[12]);
    if (index === 0) total += Number(fields[13]) + Number(fields[14]);
  }
  return total;
}

/**
 * CPU ticks used by every user-space process on the machine except `excludePids` and the
 * harness's children (utime + stime,
 * plus cutime + cstime so a short-lived child shows up in its parent once reaped). Kernel threads
 * are left out: ksoftirqd does the loopback traffic of the benchmark itself.
 * @returns a map pid -> ticks; compare two snapshots with {@link otherTicksBetween}.
 */
export function processTicks(excludePids) {
  const ticks = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || excludePids.has(Number(name))) continue;
    const fields = statFields(name);
    if (fields === undefined) continue; // exited meanwhile
    const ppid = Number(fields[1]);
    // Kernel threads, and the harness's own children (wrk) which are measured on their own.
    if (name === '2' || ppid === 2 || ppid === process.pid) continue;
    ticks.set(Number(name), Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  }
  return ticks;
}

/** Ticks the other processes used between two {@link processTicks} snapshots. */
export function otherTicksBetween(before, after) {
  let total = 0;
  for (const [pid, ticks] of after) total += Math.max(0, ticks - (before.get(pid) ?? 0));
  return total;
}

/** The kernel's page size in KiB (statm counts pages). */
let pageKiB;
function pageSizeKiB() {
  pageKiB ??= Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout) / 1024 || 4;
  return pageKiB;
}

/** Resident pages of a process in KiB from /proc/PID/statm (cheaper to read than status); undefined once gone. */
function statmRssKiB(pid) {
  const text = procFile(pid, 'statm');
  return text === undefined ? undefined : Number(text.split(' ')[1]) * pageSizeKiB();
}

/**
 * Samples a process tree's memory every `intervalMs` until `stop()`; returns the peak VmRSS sum
 * seen (see {@link treeMemoryKiB}), the most processes seen, and the root's last VmHWM (the
 * kernel's own peak for that one process since it started). For a pool (php-fpm: 129 processes)
 * reading every status file and walking the tree each time cost ~6 ms of the harness's CPU per
 * sample, taken from the CPUs the benchmark measures; so the tree is walked once a second and
 * each sample reads only statm (~1 ms for 129 processes).
 */
export function sampleMemory(pid, intervalMs = 100) {
  let peakRss = 0;
  let hwm = 0;
  let processes = 0;
  let tree = processTree(pid);
  let samples = 0;
  const take = () => {
    if (++samples % 10 === 0) tree = processTree(pid);
    let rss = 0;
    let alive = 0;
    for (const member of tree) {
      const kib = tree.length === 1 ? memoryKiB(member)?.rss : statmRssKiB(member);
      if (kib === undefined) continue;
      rss += kib;
      alive++;
    }
    if (alive === 0) return;
    peakRss = Math.max(peakRss, rss);
    processes = Math.max(processes, alive);
    hwm = Math.max(hwm, memoryKiB(pid)?.hwm ?? 0);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peakRssKiB: peakRss, hwmKiB: hwm, processes };
    },
  };
}
