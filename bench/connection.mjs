// tsgi's own per-request cost, without network or front server: CPU µs and bytes allocated per request.
//
//   node bench/connection.mjs                 GET /hello and GET /64k, 7 rounds of 100,000 requests
//   node bench/connection.mjs --count 20000 --rounds 3 --cases hello
//   node bench/connection.mjs --cases express --count 20000   Express 5 through the node:http adapter
//   node bench/connection.mjs --cases upload --count 2000     POST /upload of 1 MiB, as nginx sends it
//   node bench/connection.mjs --cases express-upload --count 2000   the same upload, Express through the adapter
//   node bench/connection.mjs --src /tmp/before/src     the same for another checkout's sources
//
// Bundles bench/lib/connection-entry.ts (esbuild, from src/: no build of dist/ needed) and runs it
// under `node --trace-gc-nvp`: one FastCgiConnection fed nginx's requests from memory, each answered
// before the next. CPU is process.cpuUsage per round (min and median printed); allocation is the
// sum of V8's "allocated" counter over the collections of the measured rounds, divided by the
// requests. Both are deterministic enough to compare a change of 0.1 µs or 100 bytes, which the
// end-to-end run (bench/run.mjs) cannot resolve. Measures only; asserts nothing.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { BENCH, REPO } from './lib/paths.mjs';

const USAGE = `Usage: node bench/connection.mjs [--cases hello,64k] [--count N] [--rounds N] [--src DIR]

  --cases LIST   hello, 64k, upload, express and/or express-upload (default hello,64k);
                 upload: POST of 1 MiB in 32 KiB FCGI_STDIN records, one 64 KiB read per
                 event-loop turn (use a smaller --count, e.g. 2000); express: GET /hello from
                 bench/apps/express-app.mjs through the node:http adapter; express-upload: that
                 app's POST /upload of the same 1 MiB through the adapter
  --count N      requests per round (default 100000; as many again warm up first)
  --rounds N     measured rounds (default 7)
  --src DIR      the src/ tree to measure (default this repository's)
`;

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'hello,64k' },
    count: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '7' },
    src: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-connection-'));
try {
  const entry = join(BENCH, 'lib/connection-entry.ts');
  const src = values.src === undefined ? join(REPO, 'src') : resolve(values.src);
  // The entry's imports of ../../src/ point at the tree measured, from the temporary copy.
  const input = join(dir, 'entry.ts');
  writeFileSync(input, readFileSync(entry, 'utf8').replaceAll("'../../src/", `'${src}/`));
  const bundle = join(dir, 'connection.mjs');
  await build({ entryPoints: [input], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning' });

  process.stdout.write(`source: ${src}; node ${process.version}\n`);
  process.stdout.write('| case | requests | CPU µs/req min | median | allocated B/req | scavenges | GC pause µs/req |\n');
  process.stdout.write('| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  for (const caseId of values.cases.split(',')) {
    const expressApp = join(BENCH, 'apps/express-app.mjs');
    const run = spawnSync(process.execPath, ['--trace-gc-nvp', bundle, caseId, values.count, values.rounds, expressApp], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    if (run.status !== 0) throw new Error(`bench: ${caseId} failed (${run.status}): ${run.stderr}`);
    let measuring = false;
    let allocated = 0;
    let pause = 0;
    let scavenges = 0;
    let result;
    for (const line of run.stdout.split('\n')) {
      if (line === 'tsgi-bench: measure') measuring = true;
      else if (line === 'tsgi-bench: done') measuring = false;
      else if (line.startsWith('tsgi-bench: {')) result = JSON.parse(line.slice('tsgi-bench: '.length));
      else if (measuring && / gc=/.test(line)) {
        const field = (name) => Number(new RegExp(` ${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
        allocated += field('allocated');
        pause += field('pause');
        if (/ gc=s /.test(line)) scavenges++;
      }
    }
    if (result === undefined) throw new Error(`bench: ${caseId} printed no result`);
    const requests = result.count * result.rounds;
    const cpu = [...result.cpuUsPerRequest].sort((a, b) => a - b);
    const row = [
      caseId,
      requests.toLocaleString('en-US'),
      cpu[0].toFixed(2),
      cpu[Math.floor(cpu.length / 2)].toFixed(2),
      Math.round(allocated / requests).toLocaleString('en-US'),
      scavenges,
      ((pause * 1000) / requests).toFixed(2),
    ];
    process.stdout.write(`| ${row.join(' | ')} |\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
