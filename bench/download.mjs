// Measures what a 100 MiB download does to the backend's memory: tsgi daemon behind real nginx, VmRSS sampled every 50 ms.
//
//   npm run build && node bench/download.mjs
//   node bench/download.mjs --rate 20M --mib 100      curl's --limit-rate, download size
//   node bench/download.mjs --cli /tmp/before.js      a saved build instead of dist/cli.cjs
//
// The issue "Performance" asks that a 100 MiB download add less than 32 MiB to the backend's RSS.
// Each case starts a fresh `tsgi fastcgi` daemon hosting bench/apps/download-tsgi.mjs (a plain TSGI
// app, 64 KiB chunks) or bench/apps/download-express.mjs (Express through the node:http adapter, a
// Readable piped to res; with and without Content-Length), or, as the reference, the same Express
// app on its own node:http server (bench/apps/download-http.mjs, nginx `proxy_pass`), behind a
// private nginx in two modes:
// - buffered: nginx's defaults as in the throughput benchmark (fastcgi_buffers 8 16k); nginx reads
//   the backend as fast as it can and spools what the client has not taken to a temp file;
// - unbuffered: `fastcgi_buffering off` (`proxy_buffering off`), so a client slower than the backend
//   pushes back through nginx to the backend's socket and, if backpressure works, to the app.
// Every chunk is a fresh 64 KiB Buffer, as a file stream gives; dead ones are freed when V8 next
// collects, so part of any peak is garbage waiting for a GC (the node:http row shows how much).
// curl downloads with --limit-rate (default 40 MB/s, slower than the backend) and the byte count is
// checked. Idle RSS is the median over 0.5 s after a few small warm-up requests; peak is the largest
// sample during the download; the delta is the difference. Loopback only; one download at a time.
// Takes bench/results/.lock like the other benchmarks.

import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireLock } from './lib/lock.mjs';
import { startNginx } from './lib/nginx.mjs';
import { APPS, DIST_CLI } from './lib/paths.mjs';
import { freePort, memoryKiB, sleep, startChild, stopChild, waitForOutput } from './lib/proc.mjs';

const SAMPLE_MS = 50;
const LIMIT_MIB = 32;
const log = (line) => process.stderr.write(line);

// kind 'tsgi': the tsgi daemon hosts `file`; kind 'http': `file` is its own node:http server (the
// reference: the same Express app without tsgi, behind `proxy_pass`).
const APPS_UNDER_TEST = [
  { id: 'tsgi-app', kind: 'tsgi', file: join(APPS, 'download-tsgi.mjs'), path: '/download' },
  { id: 'express', kind: 'tsgi', file: join(APPS, 'download-express.mjs'), path: '/download' },
  { id: 'express-chunked', kind: 'tsgi', file: join(APPS, 'download-express.mjs'), path: '/download-chunked' },
  { id: 'express-http', kind: 'http', file: join(APPS, 'download-http.mjs'), path: '/download' },
];
const MODES = [
  { id: 'buffered', fastcgi: [], http: [] },
  { id: 'unbuffered', fastcgi: ['fastcgi_buffering off;'], http: ['proxy_buffering off;'] },
];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      cli: { type: 'string' },
      rate: { type: 'string', default: '40M' },
      mib: { type: 'string', default: '100' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node bench/download.mjs [--cli FILE] [--rate 40M] [--mib 100] [--only tsgi-app,express,express-chunked,express-http]\n',
    );
    process.exit(0);
  }
  const only = values.only?.split(',');
  return {
    cli: values.cli === undefined ? DIST_CLI : resolve(values.cli),
    rate: values.rate,
    bytes: Number(values.mib) * 1024 * 1024,
    apps: only === undefined ? APPS_UNDER_TEST : APPS_UNDER_TEST.filter((app) => only.includes(app.id)),
  };
}

/** curl, reading at `rate`: resolves with its status code and the bytes it received. */
function download(url, rate) {
  return new Promise((resolvePromise, reject) => {
    const curl = spawn('curl', ['-sS', '--max-time', '600', '--limit-rate', rate, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    curl.stdout.on('data', (chunk) => (out += chunk));
    curl.stderr.on('data', (chunk) => (out += chunk));
    curl.once('error', reject);
    curl.once('exit', () => {
      const [status, size] = out.trim().split(/\s+/);
      resolvePromise({ status: Number(status), bytes: Number(size), output: out });
    });
  });
}

/** Median VmRSS (KiB) over `ms`. */
async function idleRss(pid, ms) {
  const samples = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(SAMPLE_MS)) samples.push(memoryKiB(pid).rss);
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function measure(block, options) {
  const env = { ...process.env, DOWNLOAD_BYTES: String(options.bytes) };
  const listen = `127.0.0.1:${block.backendPort}`;
  const args = block.app.kind === 'http' ? [block.app.file, '--listen', listen] : [options.cli, 'fastcgi', block.app.file, '--listen', listen];
  const backend = startChild(block.name, process.execPath, args, { env });
  try {
    await waitForOutput(backend, /listening on/);
    const base = `http://127.0.0.1:${block.frontPort}`;
    for (let i = 0; i < 5; i++) await download(`${base}/warm-up`, '0'); // loads the app, node:http for Express
    await sleep(500);
    const idle = await idleRss(backend.pid, 500);
    let peak = idle;
    const timer = setInterval(() => {
      const memory = memoryKiB(backend.pid);
      if (memory !== undefined) peak = Math.max(peak, memory.rss);
    }, SAMPLE_MS);
    const started = Date.now();
    const result = await download(`${base}${block.app.path}`, options.rate);
    const seconds = (Date.now() - started) / 1000;
    clearInterval(timer);
    const hwm = memoryKiB(backend.pid)?.hwm;
    return { ...result, idle, peak, hwm, seconds };
  } finally {
    await stopChild(backend);
  }
}

const mib = (kib) => (kib / 1024).toFixed(1);

async function main() {
  const options = parseOptions();
  await acquireLock(log);
  const blocks = [];
  for (const app of options.apps) {
    for (const mode of MODES) {
      blocks.push({
        // What bench/lib/nginx.mjs needs for a server block, plus the app and mode measured there.
        id: `${app.id}_${mode.id}`,
        name: `${app.id}_${mode.id}`,
        label: `${app.id}, nginx ${mode.id}`,
        protocol: app.kind === 'http' ? 'http' : 'fastcgi',
        keepAlive: true,
        locationDirectives: app.kind === 'http' ? mode.http : mode.fastcgi,
        app,
        mode,
        frontPort: await freePort(),
        backendPort: await freePort(),
      });
    }
  }
  const nginx = await startNginx(blocks);
  const rows = [];
  let failed = false;
  try {
    for (const block of blocks) {
      log(`bench: ${block.app.id} ${block.app.path}, nginx ${block.mode.id}, curl --limit-rate ${options.rate}\n`);
      const result = await measure(block, options);
      const complete = result.status === 200 && result.bytes === options.bytes;
      const delta = result.peak - result.idle;
      if (!complete) failed = true;
      rows.push(
        `| ${block.app.id} | ${block.mode.id} | ${complete ? 'yes' : `NO (${result.output.trim()})`} | ${result.seconds.toFixed(1)} | ${mib(result.idle)} | ${mib(result.peak)} | ${mib(delta)} | ${delta < LIMIT_MIB * 1024 ? 'yes' : 'NO'} |`,
      );
    }
  } finally {
    await nginx.stop();
  }
  const build = options.cli === DIST_CLI ? 'dist/cli.cjs' : options.cli;
  process.stdout.write(
    [
      `## ${mib(options.bytes * 1 / 1024)} MiB download, curl --limit-rate ${options.rate}, backend VmRSS every ${SAMPLE_MS} ms (${build}, Node ${process.version})`,
      '',
      `| app | nginx | all bytes | s | idle RSS MiB | peak RSS MiB | delta MiB | < ${LIMIT_MIB} MiB |`,
      '| --- | --- | --- | ---: | ---: | ---: | ---: | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  log(`${error.stack ?? error}\n`);
  process.exit(1);
});
