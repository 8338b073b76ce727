// The benchmark harness: tsgi's FastCGI daemon against its peers behind a real nginx, plus CGI start-up.
//
//   node bench/run.mjs                    full: 3 runs x 10 s per case, medians
//   node bench/run.mjs --quick            1 run x 3 s per case
//   node bench/run.mjs --only tsgi,node-http --connections 32 --cases hello
//   node bench/run.mjs --no-cgi | --cgi-only
//   node bench/run.mjs --only tsgi-nokeep,go-fcgi-nokeep,php-fpm-nokeep   peers: Go and PHP-FPM when installed
//
// Measures dist/ (build first: `npx tsup`). Everything listens on and loads 127.0.0.1 only; every
// process it starts is ended by pid when it finishes or is interrupted. It reports and never fails a
// test: nothing under test/ imports it. Method and results: docs/performance.md.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PHP_FPM_CHILDREN_PER_CPU, RATIOS, VARIANTS, prepareBackends, startBackend } from './lib/backends.mjs';
import { pinBuild } from './lib/build.mjs';
import { acquireLock } from './lib/lock.mjs';
import { measureCgiStartup } from './lib/cgi.mjs';
import { clockTicksPerSecond, describeMachine } from './lib/machine.mjs';
import { NGINX, startNginx } from './lib/nginx.mjs';
import { REPO, RESULTS } from './lib/paths.mjs';
import { cpuTicks, freePort, killAllChildren, otherTicksBetween, processTicks, processTree, pssKiB, sampleMemory, sleep, stopChild, treeCpuTicks, treeMemoryKiB } from './lib/proc.mjs';
import { formatCgiTable, formatPoolNotes, formatRatioTable, formatResultTable } from './lib/report.mjs';
import { median } from './lib/stats.mjs';
import { WRK, runWrk } from './lib/wrk.mjs';

/** The requests every backend answers (bench/apps). */
const CASES = [
  { id: 'hello', path: '/hello', bodyBytes: 0, what: 'GET /hello, 14-byte body' },
  { id: '64k', path: '/64k', bodyBytes: 0, what: 'GET /64k, 65536-byte body' },
  { id: 'upload', path: '/upload', bodyBytes: 1024 * 1024, what: 'POST /upload, 1 MiB body, answers its length' },
];

const USAGE = `usage: node bench/run.mjs [options]

  --quick               1 run of 3 s per case (default: 3 runs of 10 s)
  --runs N              runs per case (median reported)
  --duration S          seconds per run
  --warmup S            seconds of unmeasured load before each case (default 3, quick 1)
  --connections LIST    wrk connections, e.g. 32 or 32,128 (default 32,128)
  --threads N           wrk threads (default 2)
  --only LIST           backends: ${VARIANTS.map((variant) => variant.id).join(',')}
  --cases LIST          requests: ${CASES.map((c) => c.id).join(',')}
  --no-cgi              skip the CGI start-up timing
  --cgi-only            only the CGI start-up timing
  --cgi-runs N          CGI runs per row (default 30, quick 10)
  --out FILE            JSON output (default bench/results/latest.json)
  --cli FILE            measure this built CLI instead of dist/cli.cjs (e.g. a saved earlier build)
  --php-children N      php-fpm-nokeep's pool size (default ${PHP_FPM_CHILDREN_PER_CPU} per CPU); the keep-alive
                        pool gets at least one worker per connection (see backends.mjs)
  --noise-limit PCT     re-measure a run when processes outside the benchmark used more than
                        PCT % of the machine's CPU during it (default 5)
  --retries N           re-measurements allowed per case (default 2 per run)
`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '32,128' },
      threads: { type: 'string', default: '2' },
      only: { type: 'string' },
      cases: { type: 'string' },
      'no-cgi': { type: 'boolean', default: false },
      'cgi-only': { type: 'boolean', default: false },
      'cgi-runs': { type: 'string' },
      out: { type: 'string', default: join(RESULTS, 'latest.json') },
      cli: { type: 'string' },
      'php-children': { type: 'string' },
      'noise-limit': { type: 'string', default: '5' },
      retries: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const positive = (name, value) => {
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) throw new Error(`bench: --${name} needs a positive number, got ${value}`);
    return number;
  };
  const pick = (name, list, all) => {
    if (list === undefined) return all;
    const ids = list.split(',').map((id) => id.trim()).filter(Boolean);
    const unknown = ids.filter((id) => !all.some((item) => item.id === id));
    if (unknown.length > 0) throw new Error(`bench: unknown --${name} ${unknown.join(',')}; known: ${all.map((item) => item.id).join(',')}`);
    return all.filter((item) => ids.includes(item.id));
  };
  return {
    quick: values.quick,
    runs: positive('runs', values.runs ?? (values.quick ? 1 : 3)),
    durationS: positive('duration', values.duration ?? (values.quick ? 3 : 10)),
    warmupS: positive('warmup', values.warmup ?? (values.quick ? 1 : 3)),
    connections: values.connections.split(',').map((value) => positive('connections', value)),
    threads: positive('threads', values.threads),
    variants: pick('only', values.only, VARIANTS),
    cases: pick('cases', values.cases, CASES),
    http: !values['cgi-only'],
    cgi: !values['no-cgi'],
    cgiRuns: positive('cgi-runs', values['cgi-runs'] ?? (values.quick ? 10 : 30)),
    out: values.out,
    cli: values.cli === undefined ? undefined : resolve(values.cli),
    noiseLimit: positive('noise-limit', values['noise-limit']),
    phpChildren: values['php-children'] === undefined ? undefined : positive('php-children', values['php-children']),
    retries: values.retries === undefined ? 2 * (values.quick ? 1 : 3) : Number(values.retries),
  };
}

const log = (line) => process.stderr.write(line);

function onPath(command) {
  if (command.includes('/')) return existsSync(command);
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/**
 * Lines a backend printed besides its ready and stop messages (and the variant's `benign` ones:
 * php-fpm's start and stop notices), split into those logged under load and those logged while it
 * stopped (SIGTERM): errors worth a look.
 */
function backendComplaints(variant, outputBeforeStop, outputAfterStop) {
  const quiet = (line) => /listening on|stopping gracefully/.test(line) || variant.benign?.test(line);
  const lines = (text) => text.split('\n').filter((line) => line.trim() !== '' && !quiet(line));
  const duringLoad = lines(outputBeforeStop);
  const atStop = lines(outputAfterStop.slice(outputBeforeStop.length));
  return { count: duringLoad.length + atStop.length, duringLoad: duringLoad.length, atStop: atStop.length, sample: [...duringLoad, ...atStop].slice(0, 3) };
}

/** One measured wrk run with the backend's memory and CPU, and nginx's error log, around it. */
async function measuredRun({ url, connections, threads, durationS, bodyBytes }, backend, nginx, ticksPerSecond) {
  const nginxWorker = nginx.workerPid();
  // The backend's processes: one, or php-fpm's master and its (static, never recycled) workers.
  const tree = processTree(backend.pid);
  const memory = sampleMemory(backend.pid);
  const mark = nginx.logMark();
  const ours = new Set([process.pid, ...tree, nginx.pid, nginxWorker]);
  const othersBefore = processTicks(ours);
  const backendTicks = treeCpuTicks(tree);
  const nginxTicks = nginxWorker === undefined ? undefined : cpuTicks(nginxWorker);
  const wrk = await runWrk({ url, connections, threads, durationS, bodyBytes });
  const backendUsed = treeCpuTicks(tree) - backendTicks;
  const nginxUsed = nginxTicks === undefined ? 0 : cpuTicks(nginxWorker) - nginxTicks;
  const othersAfter = processTicks(ours);
  const backendCpuS = backendUsed / ticksPerSecond;
  const nginxCpuS = nginxTicks === undefined ? NaN : nginxUsed / ticksPerSecond;
  // CPU that processes outside the benchmark used meanwhile, as a share of the machine: on a
  // shared machine anything above a few % means this run competed with someone else's work.
  const capacity = wrk.durationS * ticksPerSecond * availableParallelism();
  const otherTicks = otherTicksBetween(othersBefore, othersAfter);
  const { peakRssKiB, hwmKiB, processes } = memory.stop();
  // The VmRSS sum counts a pool's shared pages once per process; Pss divides them, so for a pool
  // it is the fairer figure. Read once after the load (smaps_rollup is too costly to poll).
  const pssAfterKiB = processes > 1 ? pssKiB(backend.pid) : undefined;
  const nginxLog = nginx.errorsSince(mark);
  return {
    rps: wrk.rps,
    requests: wrk.requests,
    latencyUs: wrk.latencyUs,
    errors: wrk.errors,
    nginxErrors: nginxLog.errors,
    nginxWarnings: nginxLog.warnings,
    nginxLogSample: nginxLog.sample,
    peakRssKiB,
    hwmKiB,
    processes,
    pssAfterKiB,
    // CPU time per completed request: on a machine where wrk, nginx and the backend share the
    // cores, this is the backend's cost independent of how the scheduler split the time.
    backendCpuUsPerRequest: wrk.requests > 0 ? (backendCpuS * 1e6) / wrk.requests : NaN,
    nginxCpuUsPerRequest: wrk.requests > 0 ? (nginxCpuS * 1e6) / wrk.requests : NaN,
    wrkCpuUsPerRequest: wrk.requests > 0 ? ((wrk.cpuTicks / ticksPerSecond) * 1e6) / wrk.requests : NaN,
    // An upper bound: a child reaped meanwhile brings its whole life's CPU time; capped at 100 %.
    otherCpuPercent: Math.min(100, (100 * otherTicks) / capacity),
  };
}

function aggregate(runs) {
  const pick = (get) => median(runs.map(get));
  const sum = (get) => runs.reduce((total, run) => total + get(run), 0);
  return {
    rps: pick((run) => run.rps),
    p50Us: pick((run) => run.latencyUs.p50),
    p99Us: pick((run) => run.latencyUs.p99),
    non2xx: sum((run) => run.errors.status),
    socketErrors: sum((run) => run.errors.connect + run.errors.read + run.errors.write + run.errors.timeout),
    nginxErrors: sum((run) => run.nginxErrors),
    peakRssMiB: Math.max(...runs.map((run) => run.peakRssKiB)) / 1024,
    processes: Math.max(...runs.map((run) => run.processes)),
    pssAfterMiB: runs.some((run) => run.pssAfterKiB !== undefined) ? Math.max(...runs.map((run) => run.pssAfterKiB ?? 0)) / 1024 : undefined,
    backendCpuUsPerRequest: pick((run) => run.backendCpuUsPerRequest),
    nginxCpuUsPerRequest: pick((run) => run.nginxCpuUsPerRequest),
    otherCpuPercent: Math.max(...runs.map((run) => run.otherCpuPercent)),
  };
}

/**
 * Measures every case. Per request type, every backend is started fresh (so one case's memory peak
 * does not carry into the next) and the runs are interleaved: round 1 runs each backend once, then
 * round 2, each round starting with the next backend. A burst of outside load then hits all
 * backends alike instead of one backend's whole series.
 */
async function benchHttp(options, ticksPerSecond) {
  const variants = [];
  for (const variant of options.variants) variants.push({ ...variant, backendPort: await freePort(), frontPort: await freePort() });
  log(`bench: nginx with ${variants.length} server blocks; ${options.runs} run(s) x ${options.durationS} s per case\n`);
  const nginx = await startNginx(variants);
  const results = [];
  const complaints = {};
  const readyLines = {};
  try {
    for (const benchCase of options.cases) {
      const backends = new Map();
      try {
        for (const variant of variants) {
          const proc = await startBackend(variant, variant.backendPort);
          backends.set(variant.id, { proc, idleRssMiB: (treeMemoryKiB(proc.pid)?.rss ?? NaN) / 1024 });
          // The ready line says what ran (Go's version and GOMAXPROCS): kept in the JSON.
          readyLines[variant.id] ??= proc.output().split('\n').find((line) => variant.ready.test(line))?.trim();
        }
        for (const connections of options.connections) {
          const loadOf = (variant) => ({
            url: `http://127.0.0.1:${variant.frontPort}${benchCase.path}`,
            connections,
            threads: options.threads,
            bodyBytes: benchCase.bodyBytes,
          });
          log(`bench: ${benchCase.id} c=${connections}: warm-up ${options.warmupS} s each\n`);
          for (const variant of variants) await runWrk({ ...loadOf(variant), durationS: options.warmupS });
          const runs = new Map(variants.map((variant) => [variant.id, []]));
          const discarded = new Map(variants.map((variant) => [variant.id, 0]));
          for (let round = 0; round < options.runs; round++) {
            log(`bench: ${benchCase.id} c=${connections} round ${round + 1}:`);
            for (let k = 0; k < variants.length; k++) {
              const variant = variants[(round + k) % variants.length];
              for (;;) {
                await sleep(250);
                const run = await measuredRun({ ...loadOf(variant), durationS: options.durationS }, backends.get(variant.id).proc, nginx, ticksPerSecond);
                log(` ${variant.id} ${Math.round(run.rps)}`);
                // Another process took a share of the CPUs: measure again (a bounded number of times).
                if (run.otherCpuPercent > options.noiseLimit && discarded.get(variant.id) < options.retries) {
                  discarded.set(variant.id, discarded.get(variant.id) + 1);
                  log(` (discarded: others used ${run.otherCpuPercent.toFixed(0)}% CPU)`);
                  await sleep(2_000);
                  continue;
                }
                runs.get(variant.id).push(run);
                break;
              }
            }
            log(' req/s\n');
          }
          for (const variant of variants) {
            results.push({
              variant: variant.id,
              case: benchCase.id,
              connections,
              idleRssMiB: backends.get(variant.id).idleRssMiB,
              ...aggregate(runs.get(variant.id)),
              discardedRuns: discarded.get(variant.id),
              runs: runs.get(variant.id),
            });
          }
        }
      } finally {
        for (const [id, { proc }] of backends) {
          const outputBeforeStop = proc.output();
          await stopChild(proc);
          const found = backendComplaints(variants.find((variant) => variant.id === id), outputBeforeStop, proc.output());
          if (found.count > 0) {
            complaints[`${id}/${benchCase.id}`] = found;
            log(`bench: ${id} ${benchCase.id}: backend logged ${found.duringLoad} line(s) under load, ${found.atStop} while stopping, e.g. ${found.sample[0]}\n`);
          }
        }
      }
    }
  } finally {
    await nginx.stop();
  }
  // Table order: case, then connections, then backends as listed in VARIANTS.
  const order = (r) => [options.cases.findIndex((c) => c.id === r.case), options.connections.indexOf(r.connections), variants.findIndex((v) => v.id === r.variant)];
  results.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return { variants, results, complaints, readyLines };
}

async function main() {
  const options = parseOptions();
  await acquireLock(log);
  const { source, sha256, builtAt } = pinBuild(log, options.cli);
  log(`bench: measuring ${relative(REPO, source)} (sha256 ${sha256}…, built ${builtAt})\n`);
  if (options.http) {
    const missing = [NGINX, WRK].filter((command) => !onPath(command));
    if (missing.length > 0) {
      throw new Error(`bench: ${missing.join(' and ')} not found; install them (apt-get install nginx-light wrk) or set NGINX/WRK`);
    }
  }
  // Go and PHP-FPM peers: built/configured once per run, or skipped with a note when not installed.
  const prepared = options.http
    ? prepareBackends(options.variants, { log, connections: options.connections, phpChildren: options.phpChildren })
    : { variants: [], skipped: [], runtimes: {} };
  for (const peer of prepared.skipped) log(`bench: skipping ${peer.id}: ${peer.note}\n`);
  const machine = describeMachine();
  log(`bench: ${machine.nproc} CPU(s) ${machine.cpuModel ?? ''}, node ${machine.node}, ${machine.nginx}, load ${machine.loadAverageAtStart.join(' ')}\n`);
  const report = {
    machine,
    build: { cli: relative(REPO, source) || source, sha256, builtAt },
    settings: {
      runs: options.runs,
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      threads: options.threads,
      cases: options.cases,
      noiseLimitPercent: options.noiseLimit,
    },
    skipped: prepared.skipped,
    peers: prepared.runtimes,
  };

  if (options.http && prepared.variants.length === 0) log('bench: no backend left to measure\n');
  if (options.http && prepared.variants.length > 0) {
    const { variants, results, complaints, readyLines } = await benchHttp({ ...options, variants: prepared.variants }, clockTicksPerSecond());
    report.backends = variants.map(({ id, label, setup }) => ({ id, label, setup, readyLine: readyLines[id] }));
    report.results = results;
    report.backendLogs = complaints;
    report.ratios = ratioRows(results, options);
  }
  if (options.cgi) {
    log(`bench: CGI start-up, ${options.cgiRuns} runs per row\n`);
    report.cgi = measureCgiStartup({ runs: options.cgiRuns, log });
  }

  const out = [];
  if (report.results) {
    out.push('## Throughput and latency (medians)\n', formatResultTable(report.results), '');
    const notes = formatPoolNotes(report.results, report.backends);
    if (notes !== '') out.push(notes, '');
    if (report.ratios.some((row) => Object.keys(row.ratios).length > 0)) {
      out.push('## tsgi ÷ peer, req/s (above 1: tsgi is faster)\n', formatRatioTable(report.ratios), '');
    }
  }
  if (report.cgi) out.push('## CGI start-up (one GET /hello per process)\n', formatCgiTable(report.cgi), '');
  for (const peer of report.skipped) out.push(`- skipped ${peer.id}: ${peer.note}`);
  for (const [where, found] of Object.entries(report.backendLogs ?? {})) {
    out.push(`- ${where}: the backend logged ${found.duringLoad} line(s) under load and ${found.atStop} while stopping, e.g. \`${found.sample[0]}\``);
  }
  process.stdout.write(`${out.join('\n')}\n`);

  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(options.out, json);
  // Every run also keeps its own file: the next run replaces latest.json, not this.
  const kept = join(RESULTS, `run-${machine.date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
  writeFileSync(kept, json);
  log(`bench: wrote ${relative(process.cwd(), options.out)} and ${relative(process.cwd(), kept)}\n`);
}

/** req/s of each RATIOS pair per case and connection count, where both sides ran. */
function ratioRows(results, options) {
  const rows = [];
  for (const benchCase of options.cases) {
    for (const connections of options.connections) {
      const find = (id) => results.find((r) => r.variant === id && r.case === benchCase.id && r.connections === connections);
      const ratios = {};
      for (const [a, b] of RATIOS) {
        const left = find(a);
        const right = find(b);
        if (left !== undefined && right !== undefined) ratios[`${a} / ${b}`] = left.rps / right.rps;
      }
      rows.push({ case: benchCase.id, connections, ratios });
    }
  }
  return rows;
}

process.once('SIGINT', () => {
  log('\nbench: interrupted; stopping the processes it started\n');
  killAllChildren();
  process.exit(130);
});

main().catch((error) => {
  log(`${error.message}\n`);
  process.exitCode = 1;
});
