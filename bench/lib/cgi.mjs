// Times CGI start-up: one `tsgi cgi` request per process, against bare `node -e 0` in the same run.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { APPS, CLI, REPO } from './paths.mjs';
import { summarize } from './stats.mjs';

/** What a front server would set for `GET /hello` (RFC 3875 §4.1), and nothing else from our env. */
const CGI_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GATEWAY_INTERFACE: 'CGI/1.1',
  SERVER_PROTOCOL: 'HTTP/1.1',
  SERVER_SOFTWARE: 'bench',
  SERVER_NAME: '127.0.0.1',
  SERVER_PORT: '80',
  REMOTE_ADDR: '127.0.0.1',
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '',
  PATH_INFO: '/hello',
  QUERY_STRING: '',
};

/**
 * The rows, in the order printed. Every row runs with CGI_ENV, so e.g. NODE_OPTIONS or
 * NODE_EXTRA_CA_CERTS from the caller's shell cannot slow one row and not another.
 */
export function cgiRows() {
  return [
    { id: 'node -e 0', args: ['-e', '0'] },
    // What an ES module entry costs (Node starts its asynchronous ESM loader first). tsgi's entry is
    // CommonJS and require()s an ES module app, so this is no floor for it (docs/performance.md).
    { id: 'node empty.mjs', args: [join(APPS, 'empty.mjs')] },
    // Resolved from the repository (cwd), like the app's own import.
    { id: 'node, import express', args: ['--input-type=module', '-e', "import 'express';"] },
    // The warm-up rounds leave dist/compile-cache/ in the pinned copy, as a deployment's first request
    // does (README "CGI under Apache"); this row shows what a request pays without it.
    { id: 'tsgi cgi, no compile cache', args: [CLI, 'cgi', join(APPS, 'tsgi-app.mjs')], env: { TSGI_NO_COMPILE_CACHE: '1' }, expect: 'Hello, world!\n' },
    { id: 'tsgi cgi tsgi-app.mjs', args: [CLI, 'cgi', join(APPS, 'tsgi-app.mjs')], expect: 'Hello, world!\n' },
    // The same GET /hello as a CommonJS app: require()d, without Node's ES module machinery.
    { id: 'tsgi cgi tsgi-app.cjs', args: [CLI, 'cgi', join(APPS, 'tsgi-app.cjs')], expect: 'Hello, world!\n' },
    { id: 'tsgi cgi tsgi-express-app.mjs', args: [CLI, 'cgi', join(APPS, 'tsgi-express-app.mjs')], expect: 'Hello, world!\n' },
  ];
}

function once(row) {
  const started = process.hrtime.bigint();
  const env = row.env === undefined ? CGI_ENV : { ...CGI_ENV, ...row.env };
  const result = spawnSync(process.execPath, row.args, { cwd: REPO, env, encoding: 'utf8', timeout: 20_000 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0 || (row.expect !== undefined && !result.stdout.endsWith(row.expect))) {
    throw new Error(`bench: CGI row "${row.id}" failed (exit ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
  }
  return ms;
}

/**
 * Runs every row of cgiRows() `runs` times, interleaved (row 1, row 2, … then again) so drift hits all rows
 * alike, after `warmup` unmeasured rounds that fill the page cache.
 * @returns one entry per row: wall-time stats in ms and the ratio of its median to bare node's.
 */
export function measureCgiStartup({ runs = 30, warmup = 3, log = () => {} } = {}) {
  const rows = cgiRows();
  const times = rows.map(() => []);
  for (let round = 0; round < warmup + runs; round++) {
    rows.forEach((row, i) => {
      const ms = once(row);
      if (round >= warmup) times[i].push(ms);
    });
    if ((round + 1) % 10 === 0) log(`  cgi: ${round + 1}/${warmup + runs} rounds\n`);
  }
  const baseline = summarize(times[0]).median;
  const shown = (arg) => (arg === CLI ? 'dist/cli.cjs' : arg.replace(`${REPO}/`, ''));
  return rows.map((row, i) => {
    const stats = summarize(times[i]);
    return { id: row.id, command: `${Object.entries(row.env ?? {}).map(([k, v]) => `${k}=${v} `).join('')}node ${row.args.map(shown).join(' ')}`, ...stats, ratioToNode: stats.median / baseline };
  });
}
