// Profiles backends under an nginx load: V8 CPU profile (node --cpu-prof) and syscalls per request (strace -c).
//
//   node bench/profile.mjs                       tsgi and node-http, GET /hello, 32 connections, 10 s
//   node bench/profile.mjs --backends tsgi --case upload --duration 5
//   node bench/profile.mjs --strace              also count the backend's syscalls per request
//   node bench/profile.mjs --gc                  also allocation, promotion and GC pauses per request
//   node bench/profile.mjs --cli /tmp/before.js  profile a saved build instead of dist/cli.cjs
//
// Like run.mjs, it runs a copy of dist/cli.cjs taken at the start (bench/lib/build.mjs).
// For each backend: a private nginx (bench/lib/nginx.mjs), the backend started under
// `node --cpu-prof`, one wrk load, then SIGTERM so Node writes the profile. The summary divides the
// sampled CPU time by the requests wrk completed: µs per request by category (tsgi's code, Node's
// internals, GC, …) and the top functions by self time. With --strace, a second, unprofiled backend
// gets `strace -c -f -p PID` attached during a second load; with --gc, one runs under --trace-gc-nvp.
// Files land in bench/results/profile/.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { VARIANTS, startBackend } from './lib/backends.mjs';
import { startNginx } from './lib/nginx.mjs';
import { pinBuild } from './lib/build.mjs';
import { acquireLock } from './lib/lock.mjs';
import { CLI, REPO, RESULTS } from './lib/paths.mjs';
import { freePort, killAllChildren, sleep, startChild, stopChild } from './lib/proc.mjs';
import { runWrk } from './lib/wrk.mjs';

const CASES = {
  hello: { path: '/hello', bodyBytes: 0 },
  '64k': { path: '/64k', bodyBytes: 0 },
  upload: { path: '/upload', bodyBytes: 1024 * 1024 },
};
const OUT_DIR = join(RESULTS, 'profile');
const log = (line) => process.stderr.write(line);

const USAGE = `Usage: node bench/profile.mjs [options]

Profiles backends behind nginx under a wrk load: a V8 CPU profile per backend, summarized as µs per
request by category and top functions; optionally syscalls (strace -c) and GC per request.

  --backends LIST    comma-separated backend ids (default tsgi,node-http; see bench/lib/backends.mjs)
  --case NAME        hello | 64k | upload (default hello)
  --duration S       seconds of load per backend (default 10)
  --connections N    wrk connections (default 32)
  --threads N        wrk threads (default 2)
  --sample-us N      CPU profile sampling interval in µs (default 250)
  --top N            functions listed by self time (default 20)
  --strace           also count the backend's syscalls per request (needs strace)
  --gc               also allocation, promotion and GC pauses per request (--trace-gc-nvp)
  --cli FILE         profile a saved build instead of dist/cli.cjs
  --help             this text

Files land in bench/results/profile/.
`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'tsgi,node-http' },
      case: { type: 'string', default: 'hello' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      threads: { type: 'string', default: '2' },
      'sample-us': { type: 'string', default: '250' },
      top: { type: 'string', default: '20' },
      strace: { type: 'boolean', default: false },
      gc: { type: 'boolean', default: false },
      cli: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const backends = values.backends.split(',').map((id) => {
    const variant = VARIANTS.find((v) => v.id === id);
    if (variant === undefined) throw new Error(`bench: unknown backend ${id}; known: ${VARIANTS.map((v) => v.id).join(',')}`);
    return variant;
  });
  const benchCase = CASES[values.case];
  if (benchCase === undefined) throw new Error(`bench: unknown --case ${values.case}; known: ${Object.keys(CASES).join(',')}`);
  return {
    backends,
    caseId: values.case,
    benchCase,
    durationS: Number(values.duration),
    connections: Number(values.connections),
    threads: Number(values.threads),
    sampleUs: Number(values['sample-us']),
    top: Number(values.top),
    strace: values.strace,
    gc: values.gc,
    cli: values.cli === undefined ? undefined : resolve(values.cli),
  };
}

// ---- CPU profile ------------------------------------------------------------------------------

/** Where a profile node's code lives, for the per-request breakdown. */
function categoryOf(callFrame) {
  const { functionName, url } = callFrame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)' || functionName === '(root)') return 'V8/native (program)';
  // The pinned build is cli.cjs plus the chunks it import()s (cli-fastcgi.js, cli-chunk-*.js).
  if (url.startsWith(`file://${dirname(CLI)}/`) || url.includes('/dist/cli') || url.includes('/dist/index.js')) return 'tsgi (dist/)';
  if (url.includes('/bench/apps/')) return 'app (bench/apps)';
  if (url.includes('/node_modules/')) return 'node_modules';
  if (url.startsWith('node:')) return 'node internals (node:*)';
  if (url === '') return 'V8 builtins / native';
  return 'other JS';
}

function shortUrl(url) {
  return url.replace(`file://${dirname(CLI)}/`, 'dist/').replace(`file://${REPO}/`, '');
}

/**
 * Self and inclusive time per function from a .cpuprofile (Chrome DevTools format): each sample's
 * time delta goes to the node it hit (self) and to that node's ancestors (inclusive, counted once
 * per sample even when a function recurses).
 */
export function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const keyOf = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName === '' ? '(anonymous)' : functionName;
    return url === '' ? name : `${name} ${shortUrl(url)}:${lineNumber + 1}`;
  };
  const functions = new Map();
  const entry = (node) => {
    const key = keyOf(node);
    let found = functions.get(key);
    if (found === undefined) {
      found = { function: key, category: categoryOf(node.callFrame), selfUs: 0, totalUs: 0 };
      functions.set(key, found);
    }
    return found;
  };
  const categories = new Map();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    totalUs += us;
    entry(node).selfUs += us;
    const category = categoryOf(node.callFrame);
    categories.set(category, (categories.get(category) ?? 0) + us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const e = entry(byId.get(at));
      if (seen.has(e)) continue;
      seen.add(e);
      e.totalUs += us;
    }
  }
  // Lines of tsgi's code by self time, from V8's positionTicks. The line numbers are those of the
  // measured dist/cli.cjs; a line of an inlined function is reported under its caller's node, so
  // lines, not function names, are what to trust here.
  const lines = new Map();
  for (const node of profile.nodes) {
    if (categoryOf(node.callFrame) !== 'tsgi (dist/)' || !node.positionTicks || !node.hitCount) continue;
    const usPerTick = (selfUs.get(node.id) ?? 0) / node.hitCount;
    for (const { line, ticks } of node.positionTicks) {
      const key = `${shortUrl(node.callFrame.url)}:${line}`;
      const found = lines.get(key) ?? { line: key, selfUs: 0 };
      found.selfUs += ticks * usPerTick;
      lines.set(key, found);
    }
  }
  return {
    totalUs,
    hotLines: [...lines.values()].sort((a, b) => b.selfUs - a.selfUs).slice(0, 40),
    busyUs: totalUs - (categories.get('idle') ?? 0),
    categories: Object.fromEntries([...categories].sort((a, b) => b[1] - a[1])),
    functions: [...functions.values()].sort((a, b) => b.selfUs - a.selfUs),
  };
}

async function profileBackend(variant, options) {
  const name = `${variant.id}-${options.caseId}`;
  const profileFile = join(OUT_DIR, `${name}.cpuprofile`);
  rmSync(profileFile, { force: true });
  const v = { ...variant, backendPort: await freePort(), frontPort: await freePort() };
  const nginx = await startNginx([v]);
  try {
    const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', OUT_DIR, '--cpu-prof-name', `${name}.cpuprofile`, '--cpu-prof-interval', String(options.sampleUs)];
    const backend = await startBackend(v, v.backendPort, { nodeArgs });
    log(`bench: profiling ${variant.id} ${options.caseId}, ${options.durationS} s at ${options.connections} connections\n`);
    const wrk = await runWrk({
      url: `http://127.0.0.1:${v.frontPort}${options.benchCase.path}`,
      connections: options.connections,
      threads: options.threads,
      durationS: options.durationS,
      bodyBytes: options.benchCase.bodyBytes,
    });
    await stopChild(backend, { graceMs: 15_000 });
    const summary = summarizeProfile(JSON.parse(readFileSync(profileFile, 'utf8')));
    log(`bench: ${variant.id}: ${Math.round(wrk.rps)} req/s under the profiler, ${relative(process.cwd(), profileFile)}\n`);
    return { backend: variant.id, requests: wrk.requests, rps: wrk.rps, errors: wrk.errors, profileFile, ...summary };
  } finally {
    await nginx.stop();
  }
}

// ---- strace -----------------------------------------------------------------------------------

/** Parses `strace -c` output: one { syscall, calls, errors, seconds } per row. */
export function parseStraceSummary(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    // % time     seconds  usecs/call     calls    errors syscall
    const match = /^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d*)\s*(\w+)\s*$/.exec(line);
    if (match === null || match[6] === 'total') continue;
    rows.push({ syscall: match[6], calls: Number(match[4]), errors: Number(match[5] || 0), seconds: Number(match[2]) });
  }
  return rows.sort((a, b) => b.calls - a.calls);
}

async function straceBackend(variant, options) {
  const v = { ...variant, backendPort: await freePort(), frontPort: await freePort() };
  const nginx = await startNginx([v]);
  const outFile = join(OUT_DIR, `strace-${variant.id}-${options.caseId}.txt`);
  try {
    const backend = await startBackend(v, v.backendPort);
    const load = {
      url: `http://127.0.0.1:${v.frontPort}${options.benchCase.path}`,
      connections: options.connections,
      threads: options.threads,
      bodyBytes: options.benchCase.bodyBytes,
    };
    await runWrk({ ...load, durationS: 2 }); // warm-up: JIT and connection pool, outside the count
    // -c: counts only; -f: every thread of the process; -o: the summary goes to a file on detach.
    const strace = startChild('strace', 'strace', ['-c', '-f', '-p', String(backend.pid), '-o', outFile], { exitSignal: 'SIGINT' });
    await sleep(500); // attaching takes a moment; requests before it are simply not counted
    const wrk = await runWrk({ ...load, durationS: options.durationS });
    await stopChild(strace, { signal: 'SIGINT', graceMs: 10_000 });
    await stopChild(backend);
    const rows = parseStraceSummary(readFileSync(outFile, 'utf8'));
    log(`bench: strace ${variant.id}: ${wrk.requests} requests traced (${Math.round(wrk.rps)} req/s under strace)\n`);
    return {
      backend: variant.id,
      requests: wrk.requests,
      file: outFile,
      perRequest: rows.map((row) => ({ ...row, perRequest: row.calls / wrk.requests })),
      totalPerRequest: rows.reduce((sum, row) => sum + row.calls, 0) / wrk.requests,
    };
  } finally {
    await nginx.stop();
  }
}

// ---- allocation (--trace-gc-nvp) ---------------------------------------------------------------

/** The name=value fields of one `--trace-gc-nvp` line ("… gc=s … total_size_before=… promoted=…"). */
function gcFields(line) {
  const fields = {};
  for (const match of line.matchAll(/ ([a-z_.]+)=(\S+)/g)) fields[match[1]] = match[2];
  return fields;
}

/**
 * Runs a backend under `node --trace-gc-nvp` and adds up, during one load, what each collection
 * freed (in a steady state, what the requests allocated), what scavenges promoted to the old
 * generation (objects that outlived two young collections) and the pauses, per request.
 */
async function gcBackend(variant, options) {
  const v = { ...variant, backendPort: await freePort(), frontPort: await freePort() };
  const nginx = await startNginx([v]);
  try {
    const backend = await startBackend(v, v.backendPort, { nodeArgs: ['--trace-gc-nvp'] });
    const totals = { young: 0, full: 0, freedBytes: 0, promotedBytes: 0, youngPauseMs: 0, fullPauseMs: 0 };
    let counting = false;
    let partial = '';
    backend.child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop();
      if (!counting) return;
      for (const line of lines) {
        const f = gcFields(line);
        if (f.gc === undefined) continue;
        const young = f.gc === 's' || f.gc === 'mmc'; // scavenge, minor mark-compact
        if (young) {
          totals.young++;
          totals.youngPauseMs += Number(f.pause ?? 0);
        } else {
          totals.full++;
          totals.fullPauseMs += Number(f.pause ?? 0);
        }
        totals.freedBytes += Math.max(0, Number(f.total_size_before ?? 0) - Number(f.total_size_after ?? 0));
        totals.promotedBytes += Number(f.promoted ?? 0);
      }
    });
    const load = {
      url: `http://127.0.0.1:${v.frontPort}${options.benchCase.path}`,
      connections: options.connections,
      threads: options.threads,
      bodyBytes: options.benchCase.bodyBytes,
    };
    await runWrk({ ...load, durationS: 2 }); // warm-up, not counted
    counting = true;
    const wrk = await runWrk({ ...load, durationS: options.durationS });
    await sleep(100); // the last lines of the load
    counting = false;
    await stopChild(backend);
    log(`bench: trace-gc ${variant.id}: ${wrk.requests} requests, ${totals.young} young and ${totals.full} full collections\n`);
    const per = (value) => value / wrk.requests;
    return {
      backend: variant.id,
      requests: wrk.requests,
      ...totals,
      bytesPerRequest: per(totals.freedBytes),
      promotedBytesPerRequest: per(totals.promotedBytes),
      youngPer1000Requests: 1000 * per(totals.young),
      pauseUsPerRequest: 1000 * per(totals.youngPauseMs + totals.fullPauseMs),
    };
  } finally {
    await nginx.stop();
  }
}

// ---- report -----------------------------------------------------------------------------------

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function report(profiles, gcs, straces, options) {
  const out = [];
  const perRequest = (p, us) => (us / p.requests).toFixed(1);
  const categories = [...new Set(profiles.flatMap((p) => Object.keys(p.categories)))].filter((c) => c !== 'idle');
  out.push(`## CPU per request by category (${options.caseId}, ${options.connections} connections; µs/req from the V8 profile, idle excluded)\n`);
  out.push(
    table(
      ['category', ...profiles.map((p) => `${p.backend} µs/req`), ...profiles.map((p) => `${p.backend} %`)],
      [
        ...categories.map((c) => [
          c,
          ...profiles.map((p) => perRequest(p, p.categories[c] ?? 0)),
          ...profiles.map((p) => `${((100 * (p.categories[c] ?? 0)) / p.busyUs).toFixed(1)}`),
        ]),
        ['**total (busy)**', ...profiles.map((p) => `**${perRequest(p, p.busyUs)}**`), ...profiles.map(() => '100')],
      ],
    ),
  );
  for (const p of profiles) {
    out.push('', `## ${p.backend}: top ${options.top} functions by self time\n`);
    out.push(
      table(
        ['function', 'category', 'self %', 'self µs/req', 'total µs/req'],
        p.functions
          .filter((f) => f.category !== 'idle')
          .slice(0, options.top)
          .map((f) => [`\`${f.function}\``, f.category, ((100 * f.selfUs) / p.busyUs).toFixed(1), perRequest(p, f.selfUs), perRequest(p, f.totalUs)]),
      ),
    );
    if (p.hotLines.length > 0) {
      const sources = new Map(); // dist/<file> -> its lines, read from the pinned copy
      const lineOf = (key) => {
        const file = key.slice(0, key.lastIndexOf(':'));
        if (!sources.has(file)) {
          const path = file.startsWith('dist/') ? join(dirname(CLI), file.slice(5)) : join(REPO, file);
          sources.set(file, existsSync(path) ? readFileSync(path, 'utf8').split('\n') : []);
        }
        return sources.get(file)[Number(key.split(':').pop()) - 1] ?? '';
      };
      out.push('', `## ${p.backend}: hottest lines of tsgi's code (self time; lines of the measured build's files)\n`);
      out.push(
        table(
          ['line', 'self µs/req', 'source'],
          p.hotLines.slice(0, options.top).map((l) => {
            const text = lineOf(l.line).trim().slice(0, 90).replaceAll('|', '\\|');
            return [l.line, perRequest(p, l.selfUs), `\`${text}\``];
          }),
        ),
      );
    }
    const own = p.functions.filter((f) => f.category === 'tsgi (dist/)').sort((a, b) => b.totalUs - a.totalUs);
    if (own.length > 0) {
      out.push('', `## ${p.backend}: tsgi functions by total (inclusive) time\n`);
      out.push(
        table(
          ['function', 'total µs/req', 'total %', 'self µs/req'],
          own.slice(0, options.top).map((f) => [`\`${f.function}\``, perRequest(p, f.totalUs), ((100 * f.totalUs) / p.busyUs).toFixed(1), perRequest(p, f.selfUs)]),
        ),
      );
    }
  }
  if (gcs.length > 0) {
    out.push('', `## Allocation and GC per request (node --trace-gc-nvp, ${options.caseId}, ${options.durationS} s)\n`);
    out.push(
      table(
        ['backend', 'KiB freed/req (≈ allocated)', 'bytes promoted/req', 'young GCs', 'full GCs', 'GC pause µs/req', 'GC pause ms total'],
        gcs.map((g) => [
          g.backend,
          (g.bytesPerRequest / 1024).toFixed(1),
          g.promotedBytesPerRequest.toFixed(0),
          String(g.young),
          String(g.full),
          g.pauseUsPerRequest.toFixed(2),
          (g.youngPauseMs + g.fullPauseMs).toFixed(0),
        ]),
      ),
    );
  }
  if (straces.length > 0) {
    const names = [...new Set(straces.flatMap((s) => s.perRequest.filter((r) => r.perRequest >= 0.01).map((r) => r.syscall)))];
    out.push('', `## Backend syscalls per request (strace -c -f, ${options.caseId})\n`);
    out.push(
      table(
        ['syscall', ...straces.map((s) => s.backend)],
        [
          ...names.map((name) => [name, ...straces.map((s) => (s.perRequest.find((r) => r.syscall === name)?.perRequest ?? 0).toFixed(2))]),
          ['**total**', ...straces.map((s) => `**${s.totalPerRequest.toFixed(2)}**`)],
        ],
      ),
    );
  }
  return out.join('\n');
}

async function main() {
  const options = parseOptions();
  await acquireLock(log);
  const { source, sha256, builtAt } = pinBuild(log, options.cli);
  log(`bench: measuring ${relative(REPO, source)} (sha256 ${sha256}…, built ${builtAt})\n`);
  mkdirSync(OUT_DIR, { recursive: true });
  const profiles = [];
  for (const variant of options.backends) profiles.push(await profileBackend(variant, options));
  const gcs = [];
  if (options.gc) for (const variant of options.backends) gcs.push(await gcBackend(variant, options));
  const straces = [];
  if (options.strace) {
    if (spawnSync('strace', ['-V']).status !== 0) {
      log('bench: strace not found (apt-get install strace); skipping the syscall count\n');
    } else {
      for (const variant of options.backends) straces.push(await straceBackend(variant, options));
    }
  }
  process.stdout.write(`${report(profiles, gcs, straces, options)}\n`);
  const summaryFile = join(OUT_DIR, `summary-${options.caseId}.json`);
  const slim = profiles.map(({ functions, ...rest }) => ({ ...rest, functions: functions.slice(0, 100) }));
  writeFileSync(summaryFile, `${JSON.stringify({ build: { cli: relative(REPO, source) || source, sha256, builtAt }, options: { ...options, backends: options.backends.map((b) => b.id) }, profiles: slim, gcs, straces }, null, 2)}\n`);
  log(`bench: wrote ${relative(process.cwd(), summaryFile)}\n`);
}

process.once('SIGINT', () => {
  killAllChildren();
  process.exit(130);
});

main().catch((error) => {
  log(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
