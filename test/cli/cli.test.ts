// Tests the built `tsgi` command as a web server runs it: CGI env, an fd-0 listener, load errors.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FastCgiClient } from '../../src/fastcgi/client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.cjs');
const HELLO = join(ROOT, 'examples', 'hello.mjs');
const HTTPOXY = join(ROOT, 'test', 'fixtures', 'httpoxy.mjs');

const CGI_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '/cgi-bin/app',
  PATH_INFO: '/',
  QUERY_STRING: '',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1',
};

/**
 * Starts the CLI the way a process manager would: python3 binds and listens on 127.0.0.1, runs
 * `setup` (which hands the socket over and sets `env`), then execs node with `args`. Sends one
 * GET / over FastCGI and returns the body (status must be 200).
 */
async function viaLauncher(setup: string[], args: string[]): Promise<string> {
  const launcher = [
    'import os, socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)',
    'print(s.getsockname()[1], flush=True)',
    ...setup,
    'os.execve(sys.argv[1], sys.argv[1:], env)',
  ].join('\n');
  const child = spawn('python3', ['-c', launcher, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
      child.once('exit', (code) => reject(new Error(`launcher exited ${code}`)));
    });
    let client: FastCgiClient | undefined;
    for (let i = 0; i < 50 && client === undefined; i++) {
      client = await FastCgiClient.connect({ host: '127.0.0.1', port }).catch(() => undefined);
      if (client === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    const res = await client!.request({
      params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
    });
    let body = '';
    for await (const chunk of res.body) body += Buffer.from(chunk).toString();
    expect(res.status).toBe(200);
    return body;
  } finally {
    child.kill('SIGTERM');
  }
}

/** A free loopback port (bind 127.0.0.1:0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function cli(args: string[], env: Record<string, string>, input = '') {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, input, encoding: 'latin1', timeout: 15_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('tsgi command', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  });

  it('serves one CGI request when GATEWAY_INTERFACE is set, with no subcommand', () => {
    const r = cli([HELLO], CGI_ENV);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
    expect(r.stdout).toContain('Hello from tsgi!');
  });

  it('removes HTTP_PROXY before the app module loads, and keeps console.log off stdout (httpoxy)', () => {
    const r = cli(['cgi', HTTPOXY], { ...CGI_ENV, HTTP_PROXY: 'http://attacker:8080' });
    expect(r.status).toBe(0);
    const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body.proxyAtLoad).toBeNull();
    expect(body.environProxy).toBeNull();
    expect(r.stdout).not.toContain('console.log must not');
    expect(r.stderr).toContain('console.log must not reach stdout under CGI');
  });

  it('loads the app with NODE_ENV=production unless NODE_ENV is set (CGI)', () => {
    const json = (r: { stdout: string }) => JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(json(cli(['cgi', HTTPOXY], CGI_ENV)).nodeEnvAtLoad).toBe('production');
    expect(json(cli(['cgi', HTTPOXY], { ...CGI_ENV, NODE_ENV: 'development' })).nodeEnvAtLoad).toBe('development');
  });

  it('never reads options from argv under CGI (Apache passes "?--help" queries as arguments)', () => {
    const r = cli([HTTPOXY, '--help', '--listen', '0.0.0.0:80'], { ...CGI_ENV, QUERY_STRING: '--help' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Status: 200 OK/);
    expect(r.stdout).not.toContain('Usage:');
  });

  it('prints the version from package.json, also when installed under a path with "#" and "%"', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsgi a#b %41 '));
    try {
      mkdirSync(join(root, 'dist'));
      copyFileSync(CLI, join(root, 'dist', 'cli.cjs'));
      copyFileSync(join(ROOT, 'dist', 'cli-core.cjs'), join(root, 'dist', 'cli-core.cjs'));
      writeFileSync(join(root, 'package.json'), '{"version":"9.9.9"}\n');
      const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.cjs'), '--version'], { encoding: 'utf8', timeout: 15_000 });
      expect(r.stdout).toBe('tsgi 9.9.9\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('answers a CGI 500 and names the file when the app cannot be loaded', () => {
    const r = cli(['cgi', '/nonexistent/app.mjs'], CGI_ENV);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(r.stderr).toContain('tsgi: cannot load app: /nonexistent/app.mjs does not exist');
  });

  it.each([
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0'], '/nonexistent/app.mjs does not exist', 1],
    [['fastcgi', 'test/fixtures/not-an-app.mjs', '--listen', '127.0.0.1:0'], "export 'default' of", 1],
    [['fastcgi', 'test/fixtures/not-an-app.mjs#missing', '--listen', '127.0.0.1:0'], "has no export 'missing' (it exports: default, other)", 1],
    // The dev and fastcgi subcommands are chunks with their own copy of the core's TsgiError.
    [['dev', '/nonexistent/app.mjs', '--port', '0'], '/nonexistent/app.mjs does not exist', 1],
    [['fastcgi', 'test/fixtures', '--listen', '127.0.0.1:0'], `${join(ROOT, 'test/fixtures')} is not a file; name the app's module`, 1],
    [['cgi'], 'tsgi: cgi needs the path of the app module; see tsgi --help', 2],
    // Mistakes on the command line: exit 2, found before the app loads (the app here does not exist).
    [['fastcgi', HELLO, '--listen', 'nonsense'], 'invalid --listen "nonsense"', 2],
    [['dev', '/nonexistent/app.mjs', '--type', 'nope'], 'tsgi: invalid --type nope; use tsgi, fetch or node', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--bogus'], 'tsgi fastcgi: unknown option --bogus; see tsgi --help', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen'], 'tsgi fastcgi: --listen needs a value; see tsgi --help', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '--http', '127.0.0.1:0'], '--listen needs a value (write --listen=--http if that is the value)', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--no-multiplex=1'], 'tsgi fastcgi: --no-multiplex takes no value', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--http', 'localhost:x'], 'tsgi: invalid --http "localhost:x"', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--grace-ms', 'soon'], 'tsgi: invalid --grace-ms soon', 2],
    [['dev', '/nonexistent/app.mjs', '--port', '65536'], 'tsgi: invalid --port 65536; use a port from 0 to 65535', 2],
    [['dev', '/nonexistent/app.mjs', '--watch', '--port', 'x'], 'tsgi: invalid --port x', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--max-conns', '0'], 'tsgi: invalid --max-conns 0', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--max-body-bytes', '16m'], 'tsgi: invalid --max-body-bytes 16m', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--script-name', 'app'], 'tsgi: invalid --script-name app', 2],
    [['fastcgi', '/nonexistent/app.mjs', '--listen', '127.0.0.1:0', '--web-server-addrs', '127.0.0.1,nginx'], 'tsgi: invalid --web-server-addrs entry nginx', 2],
  ])('gives one clear message for %j', (args, message, status) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([['fastcgi', '--help'], ['dev', HELLO, '-h'], ['cgi', '--help']])('prints the help for %j and exits 0', (...args) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('FastCGI options:');
    expect(r.stderr).toBe('');
  });

  it('names the address in use, for the dev server and for the daemon\'s --http front', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      for (const args of [['dev', HELLO, '--port', String(port)], ['fastcgi', HELLO, '--listen', '127.0.0.1:0', '--http', `127.0.0.1:${port}`]]) {
        const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`tsgi: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
        expect(r.stderr).not.toContain('    at ');
      }
    } finally {
      taken.close();
    }
  });

  describe('CGI start-up: dist/cli.cjs and dist/cli-core.cjs alone serve a CGI request (docs/performance.md "CGI start-up")', () => {
    /** dist/cli.cjs and cli-core.cjs copied alone: no chunk files beside them. */
    let alone: string;
    /** A preload that prints the node: built-ins the process loaded, one per line, at exit. */
    let builtins: string;
    let dir: string;
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tsgi-cli-alone-'));
      alone = join(dir, 'cli.cjs');
      copyFileSync(CLI, alone);
      copyFileSync(join(ROOT, 'dist', 'cli-core.cjs'), join(dir, 'cli-core.cjs'));
      builtins = join(dir, 'builtins.cjs');
      writeFileSync(
        builtins,
        [
          "const opened = [];",
          "for (const name of ['stdin', 'stdout', 'stderr']) {",
          "  const { get } = Object.getOwnPropertyDescriptor(process, name);",
          "  Object.defineProperty(process, name, { configurable: true, get() { opened.push(name); return get.call(process); } });",
          "}",
          "process.on('exit', () => require('node:fs').writeSync(2, '\\n' + process.moduleLoadList",
          "  .filter((m) => m.startsWith('NativeModule ')).map((m) => 'builtin ' + m.slice(13))",
          "  .concat(opened.map((name) => 'opened ' + name)).join('\\n') + '\\n'));",
        ].join('\n'),
      );
    });
    const run = (app: string, env: Record<string, string>, input?: Buffer) =>
      spawnSync(process.execPath, ['-r', builtins, alone, 'cgi', app], { env, input, encoding: 'latin1', timeout: 15_000 });
    /** The built-ins a CGI request loaded, from the preload's report on stderr. */
    const loadedBy = (r: { stderr: string }) =>
      r.stderr.split('\n').filter((line) => line.startsWith('builtin ')).map((line) => line.slice(8));
    /** What a request never needs: the daemon's built-ins; the stream modules and net (fd 0 and 1 are
     * read and written directly), fs/promises and os (only a body spilling to a temp file needs them),
     * AbortController's module (tsgi.signal is made when the app reads it). */
    const UNUSED = ['http', '_http_server', 'child_process', 'dgram', 'internal/util/parse_args/parse_args', 'net', 'stream', 'fs/promises', 'os', 'internal/abort_controller'];

    it('serves a TSGI app without loading node:http, node:child_process, the daemon or the stream modules', () => {
      const r = run(HELLO, CGI_ENV);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Hello from tsgi!');
      const loaded = loadedBy(r);
      expect(loaded).toContain('fs'); // the preload ran
      expect(loaded.filter((name) => UNUSED.includes(name))).toEqual([]);
      // A GET that logs nothing opens no stdio stream (each costs start-up).
      expect(r.stderr.split('\n').filter((line) => line.startsWith('opened '))).toEqual([]);
    });

    it('reads a POST body from fd 0 without opening process.stdin or loading the stream modules', () => {
      // An echo importing nothing (test/fixtures/app.mjs imports node:crypto, which loads streams).
      const echo = join(dir, 'echo.mjs');
      writeFileSync(
        echo,
        "export default async function app(environ, startResponse) {\n" +
          "  const body = await environ['tsgi.input'].readAll();\n" +
          "  startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);\n" +
          '  return [body];\n}\n',
      );
      const body = Buffer.alloc(200_000, 'b');
      const r = run(echo, { ...CGI_ENV, REQUEST_METHOD: 'POST', PATH_INFO: '/echo', CONTENT_LENGTH: String(body.length) }, body);
      expect(r.status).toBe(0);
      expect(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)).toBe(body.toString('latin1'));
      expect(loadedBy(r).filter((name) => UNUSED.includes(name))).toEqual([]);
      expect(r.stderr.split('\n').filter((line) => line.startsWith('opened '))).toEqual([]);
    });

    it('serves an Express app through the node:http adapter, which cli-core.cjs holds itself', () => {
      const r = run(join(ROOT, 'examples', 'express.mjs'), { ...CGI_ENV, PATH_INFO: '/users/7' });
      expect(r.status).toBe(0);
      expect(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)).toBe('{"id":"7"}');
    });

    it('loads an app whose module graph uses top-level await, through the bin\'s import()', () => {
      // cli-core.cjs runs compiled by vm, where import() is unavailable: require() refuses this app
      // (ERR_REQUIRE_ASYNC_MODULE) and the bin's import() must load it.
      const tla = join(dir, 'tla.mjs');
      writeFileSync(tla, "await 0;\nexport default (environ, startResponse) => { startResponse('200 OK', []); return ['awaited']; };\n");
      const r = run(tla, CGI_ENV);
      expect(r.status).toBe(0);
      expect(r.stdout.endsWith('\r\n\r\nawaited')).toBe(true);
    });

    describe('the compile cache (src/cli/compile-cache.ts)', () => {
      const cacheDir = () => join(dir, 'compile-cache');
      /** The one cache file these runs make: cli-core-<version>-<arch>-<hash>.cache, the hash for run()'s `-r`. */
      const cacheFile = () => {
        const names = existsSync(cacheDir()) ? readdirSync(cacheDir()).filter((name) => name.endsWith('.cache')) : [];
        expect(names).toHaveLength(1);
        expect(names[0]).toMatch(new RegExp(`^cli-core-${process.version.replaceAll('.', '\\.')}-${process.arch}-[0-9a-f]{8}\\.cache$`));
        return join(cacheDir(), names[0]!);
      };
      beforeEach(() => rmSync(cacheDir(), { recursive: true, force: true }));

      it('is written by the first CGI request and used, not rewritten, by the next', () => {
        expect(existsSync(cacheDir())).toBe(false);
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        const written = statSync(cacheFile());
        expect(readFileSync(cacheFile()).toString('latin1', 0, 8)).toBe('tsgi-cc2');
        const second = run(HELLO, CGI_ENV);
        expect(second.status).toBe(0);
        expect(second.stdout).toContain('Hello from tsgi!');
        expect(statSync(cacheFile()).ino).toBe(written.ino); // written by rename: a rewrite is a new inode
      });

      it('is kept apart for processes run with other Node options, so neither replaces the other', () => {
        const withOptions = { ...CGI_ENV, NODE_OPTIONS: '--max-old-space-size=200' };
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        expect(run(HELLO, withOptions).status).toBe(0);
        const files = readdirSync(cacheDir()).filter((name) => name.endsWith('.cache')).sort();
        expect(files).toHaveLength(2);
        const inodes = files.map((name) => statSync(join(cacheDir(), name)).ino);
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        expect(run(HELLO, withOptions).status).toBe(0);
        expect(files.map((name) => statSync(join(cacheDir(), name)).ino)).toEqual(inodes);
      });

      it('is written again for a rebuilt cli-core.cjs, even one of the same length', () => {
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        const before = statSync(cacheFile()).ino;
        const core = join(dir, 'cli-core.cjs');
        // Same bytes, newer mtime: V8 alone would take the old cache (it checks the source's length).
        writeFileSync(core, readFileSync(core));
        const r = run(HELLO, CGI_ENV);
        expect(r.status).toBe(0);
        expect(statSync(cacheFile()).ino).not.toBe(before);
      });

      it('still serves the request when the cache file is damaged, and replaces it', () => {
        mkdirSync(cacheDir(), { recursive: true });
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        const bytes = readFileSync(cacheFile());
        bytes.fill(0x5a, 48, 200);
        writeFileSync(cacheFile(), bytes);
        const r = run(HELLO, CGI_ENV);
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('Hello from tsgi!');
        expect(readFileSync(cacheFile()).subarray(48, 200).every((b) => b === 0x5a)).toBe(false);
      });

      // Only root can give a file to another user.
      it.skipIf(process.geteuid?.() !== 0)('is not used when another user owns it (a cache file is code)', () => {
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        chownSync(cacheFile(), 12345, 12345);
        const before = statSync(cacheFile()).ino;
        expect(run(HELLO, CGI_ENV).status).toBe(0);
        const after = statSync(cacheFile());
        expect([after.ino === before, after.uid]).toEqual([false, 0]);
      });

      it('is neither read nor written with TSGI_NO_COMPILE_CACHE=1, nor written when serving fails', () => {
        expect(run(HELLO, { ...CGI_ENV, TSGI_NO_COMPILE_CACHE: '1' }).status).toBe(0);
        expect(existsSync(cacheDir())).toBe(false);
        expect(run(join(dir, 'missing.mjs'), CGI_ENV).stdout).toContain('500 Internal Server Error');
        expect(existsSync(cacheDir())).toBe(false);
      });

      it('serves the request when dist/ is not writable', () => {
        writeFileSync(cacheDir(), 'a file where the directory would go');
        const r = run(HELLO, CGI_ENV);
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('Hello from tsgi!');
        expect(r.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('builtin '))).toEqual([]);
      });
    });
  });

  it('exits once the CGI response is written, even when the app left a timer running', () => {
    // Without the exit, spawnSync's 15 s limit would kill it and status would be null.
    const r = cli(['cgi', join(ROOT, 'test', 'fixtures', 'lingering.mjs')], CGI_ENV);
    expect(r.status).toBe(0);
    expect(r.stdout.endsWith('done\n')).toBe(true);
  });

  it('exits after the 10 s drain limit when the front server keeps stdin open short of CONTENT_LENGTH', async () => {
    // The read waiting on fd 0 cannot be cancelled and would hold process.exit() until stdin closes.
    const child = spawn(process.execPath, [CLI, 'cgi', HELLO], {
      env: { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.write('abc'); // 3 of 100 bytes, and the pipe stays open
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = Date.now();
    try {
      const exited = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 25_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      expect(exited).toBe(true);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(stdout).toMatch(/^Status: 200 OK\r\n/); // the app answered without reading the body
      expect(stderr).toContain('tsgi: gave up on the rest of the request body after 10 s');
    } finally {
      child.kill('SIGKILL');
      child.stdin.destroy();
    }
  }, 30_000);

  it('runs an Express app unchanged as a CGI script (node:http adapter, detected)', () => {
    const r = cli(['cgi', join(ROOT, 'examples', 'express.mjs')], { ...CGI_ENV, PATH_INFO: '/users/42' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Status: 200 OK\r\n/);
    expect(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)).toBe('{"id":"42"}');
  });

  it('explains the one-line change when the module calls listen() itself', () => {
    const r = spawnSync(process.execPath, [CLI, 'fastcgi', 'test/fixtures/listens.mjs', '--listen', '127.0.0.1:0'], {
      cwd: ROOT, encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('calls listen() itself; export the app instead');
  });

  it('serves a Hono app with tsgi dev on loopback', async () => {
    const child = spawn(process.execPath, [CLI, 'dev', join(ROOT, 'examples', 'hono.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stderr.on('data', (data: Buffer) => {
          text += data.toString();
          const match = /development server on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`dev exited ${code}: ${text}`)));
      });
      const res = await fetch(`${url}/json`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ hello: 'world' });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('fastcgi --http (npm start) shows each app error line once, and still sends them as FCGI_STDERR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-http-front-log-'));
    const file = join(dir, 'boom.mjs');
    writeFileSync(
      file,
      "export default function app(environ, startResponse) {\n  environ['tsgi.errors'].write('a note from the app\\n');\n  throw new Error('kaboom');\n}\n",
    );
    const [listen, http] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [CLI, 'fastcgi', file, '--listen', `127.0.0.1:${listen}`, '--http', `127.0.0.1:${http}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = (text: string) => stderr.split('\n').filter((line) => line.includes(text));
    try {
      await expect.poll(() => stderr, { timeout: 10_000 }).toContain('development HTTP front');
      expect((await fetch(`http://127.0.0.1:${http}/`)).status).toBe(500);
      // The front logs the request line last, after whatever it relays.
      await expect.poll(() => lines('GET / 500'), { timeout: 10_000 }).toHaveLength(1);
      expect(lines('a note from the app')).toEqual(['a note from the app']);
      expect(lines('Error: kaboom')).toHaveLength(1);
      expect(lines('boom.mjs:')).toHaveLength(1); // the stack's first frame
      // A front server on the --listen socket (nginx) still gets both in its error log.
      const client = await FastCgiClient.connect({ host: '127.0.0.1', port: listen });
      const res = await client.request({
        params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
      });
      for await (const _chunk of res.body);
      expect(res.status).toBe(500);
      expect(res.stderr).toContain('a note from the app\n');
      expect(res.stderr).toContain('Error: kaboom');
      client.close();
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops gracefully on SIGTERM: the request in flight finishes, then the process exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'fastcgi', join(ROOT, 'test', 'fixtures', 'slow.mjs'), '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => stderr, { timeout: 10_000 }).toContain('fastcgi listening');
      const client = await FastCgiClient.connect({ host: '127.0.0.1', port });
      const pending = client.request({
        params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
        keepConn: true,
      });
      await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGTERM');
      const res = await pending;
      let body = '';
      for await (const chunk of res.body) body += Buffer.from(chunk).toString();
      expect(body).toBe('finished\n');
      expect(await exited).toBe(0);
      expect(stderr).toContain('SIGTERM, stopping gracefully');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a single process takes SIGHUP (systemctl reload) with a log line and goes on serving', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'fastcgi', HELLO, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await expect.poll(() => stderr, { timeout: 10_000 }).toContain('fastcgi listening');
      child.kill('SIGHUP');
      await expect.poll(() => stderr, { timeout: 10_000 }).toContain('SIGHUP ignored: a single process cannot reload its app; run with --workers');
      const client = await FastCgiClient.connect({ host: '127.0.0.1', port });
      const res = await client.request({
        params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' },
      });
      for await (const _chunk of res.body);
      expect(res.status).toBe(200);
      client.close();
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reloads the app on change with tsgi dev --watch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-watch-'));
    const file = join(dir, 'app.mjs');
    const version = (n: number) =>
      `export default (env, start) => { start('200 OK', []); return ['version ${n}']; };\n`;
    writeFileSync(file, version(1));
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'dev', file, '--port', String(port), '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const get = async (): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const text = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => undefined);
        if (text !== undefined) return text;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('dev server never answered');
    };
    try {
      expect(await get()).toBe('version 1');
      writeFileSync(file, version(2));
      let text = '';
      for (let i = 0; i < 100 && text !== 'version 2'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        text = (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => '')) ?? '';
      }
      expect(text).toBe('version 2');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('restarts tsgi dev --watch after every save by rename, of the app and of a module in a subdirectory', async () => {
    // Editors save by renaming a new file over the old one. Node 20's --watch-path on Linux saw the
    // first such save of a file and no later save of it: it kept watching the replaced inode.
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-watch-rename-'));
    mkdirSync(join(dir, 'lib'));
    const app = join(dir, 'app.mjs');
    const lib = join(dir, 'lib', 'word.mjs');
    const appSource = (n: number) =>
      `import { word } from './lib/word.mjs';\nexport default (env, start) => { start('200 OK', []); return ['app ${n} ' + word]; };\n`;
    const libSource = (n: number) => `export const word = 'lib ${n}';\n`;
    const saveByRename = (file: string, text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    writeFileSync(app, appSource(1));
    writeFileSync(lib, libSource(1));
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'dev', app, '--port', String(port), '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const answer = () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => '');
    const saves: Array<[string, () => void, string]> = [
      ['the app, by rename', () => saveByRename(app, appSource(2)), 'app 2 lib 1'],
      ['the app, by rename again', () => saveByRename(app, appSource(3)), 'app 3 lib 1'],
      ['lib/word.mjs, by rename', () => saveByRename(lib, libSource(2)), 'app 3 lib 2'],
      ['lib/word.mjs, by rename again', () => saveByRename(lib, libSource(3)), 'app 3 lib 3'],
      ['the app, in place after those', () => writeFileSync(app, appSource(4)), 'app 4 lib 3'],
    ];
    try {
      await expect.poll(answer, { timeout: 10_000 }).toBe('app 1 lib 1');
      for (const [what, save, expected] of saves) {
        save();
        await expect.poll(answer, { timeout: 10_000, message: `after saving ${what}; output:\n${output}` }).toBe(expected);
      }
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('stops tsgi dev --watch gracefully on a Ctrl-C at the terminal, which signals the whole foreground group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-watch-ctrl-c-'));
    const app = join(dir, 'app.mjs');
    writeFileSync(
      app,
      "const app = (env, start) => { start('200 OK', []); return [String(process.pid)]; };\n" +
        "app.close = () => new Promise((resolve) => setTimeout(() => { process.stderr.write('app closed\\n'); resolve(); }, 200));\n" +
        'export default app;\n',
    );
    const port = await freePort();
    // A process group of its own, as a shell gives a foreground job: the terminal signals all of it.
    const child = spawn(process.execPath, [CLI, 'dev', app, '--port', String(port), '--watch'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok).catch(() => false), { timeout: 10_000 }).toBe(true);
      // The dev server is in the supervisor's process group, so job control (Ctrl-Z) reaches both.
      const server = Number(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()));
      const processGroup = Number(readFileSync(`/proc/${server}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
      expect([server !== child.pid, processGroup]).toEqual([true, child.pid]);
      process.kill(-child.pid!, 'SIGINT');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))])).toBe(0);
      expect(output).toContain('app closed');
      expect(output).not.toContain('stopping now');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops the dev server of tsgi dev --watch when its supervisor is killed', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'dev', HELLO, '--port', String(port), '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const up = () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok).catch(() => false);
    try {
      await expect.poll(up, { timeout: 10_000 }).toBe(true);
      child.kill('SIGKILL');
      // Its dev server (another process group) stops by itself: the port is free again.
      await expect.poll(up, { timeout: 10_000, message: output }).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('stops the dev server of tsgi dev --watch gracefully when its supervisor is killed while the app loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-watch-slow-'));
    const app = join(dir, 'app.mjs');
    writeFileSync(
      app,
      "process.stderr.write('loading\\n');\nawait new Promise((resolve) => setTimeout(resolve, 1500));\n" +
        "export default (env, start) => { start('200 OK', []); return ['up']; };\n",
    );
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'dev', app, '--port', String(port), '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // The pipe closes once the dev server, which shares it, has exited too.
    const closed = new Promise<void>((resolve) => child.stderr.once('close', () => resolve()));
    try {
      await expect.poll(() => output, { timeout: 10_000 }).toContain('loading');
      child.kill('SIGKILL');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
      expect(output).not.toContain('TypeError');
      expect(output).toContain('the --watch supervisor is gone');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints help and exits 2 when not started by a web server', () => {
    const r = spawnSync(process.execPath, [CLI, HELLO], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('Usage:');
  });

  it('serves FastCGI on a systemd-activated socket (LISTEN_FDS, LISTEN_PID, fd 3)', async () => {
    // python3 plays systemd: put the socket on fd 3, set LISTEN_* for our own pid, exec.
    const body = await viaLauncher(
      ['os.dup2(s.fileno(), 3); os.set_inheritable(3, True)', 'env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))'],
      ['fastcgi', HELLO],
    );
    expect(body).toContain('Hello from tsgi!');
  });

  it('detects a systemd-activated socket without the fastcgi subcommand, and runs the app with NODE_ENV=production', async () => {
    const body = await viaLauncher(
      [
        'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)',
        'env = {k: v for k, v in os.environ.items() if k != "NODE_ENV"}',
        'env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))',
      ],
      [HTTPOXY],
    );
    expect(JSON.parse(body)).toMatchObject({ nodeEnvAtLoad: 'production' });
  });

  it('serves FastCGI on a listening socket inherited as fd 0, as spawn-fcgi and mod_fcgid start apps', async () => {
    // python3 plays spawn-fcgi: dup2 the socket onto fd 0, exec; no subcommand: tsgi detects it.
    const body = await viaLauncher(['os.dup2(s.fileno(), 0)', 'env = dict(os.environ)'], [HELLO]);
    expect(body).toContain('run_once     false');
  });
});
