// Tests the bin's code cache for the CLI bundle (src/cli/compile-cache.ts): what each state means.
// In one process V8 answers a second compile of the same source from its own in-memory cache, so a
// cache file V8 refuses ('rejected') is tested across processes, in cli.test.ts.

import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCompiled } from '../../src/cli/compile-cache.js';

describe('loadCompiled', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-compile-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = (name: string, answer: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `"use strict";\nexports.answer = () => ${JSON.stringify(answer)};\nexports.dir = __dirname;\n`);
    return file;
  };
  const load = (file: string, useCache = true) => loadCompiled(file, createRequire(file), useCache);
  const exported = (loaded: { exports: unknown }) => loaded.exports as { answer(): string; dir: string };

  it('compiles, runs and caches a bundle: missing, then used', () => {
    const file = bundle('a.cjs', 'one');
    const first = load(file);
    expect([first.cache, exported(first).answer(), exported(first).dir]).toEqual(['missing', 'one', dir]);
    // Named for this Node, and for the options it runs with (vitest's workers have some).
    expect(dirname(first.cacheFile)).toBe(join(dir, 'compile-cache'));
    expect(basename(first.cacheFile)).toMatch(/^a-v\d+\.\d+\.\d+-\w+(-[0-9a-f]{8})?\.cache$/);
    expect(basename(first.cacheFile).startsWith(`a-${process.version}-${process.arch}`)).toBe(true);
    first.save();
    const second = load(file);
    expect([second.cache, exported(second).answer()]).toEqual(['used', 'one']);
  });

  it('takes a cache made for other bytes of the same length for stale, and runs the new bytes', () => {
    const file = bundle('b.cjs', 'old');
    load(file).save();
    bundle('b.cjs', 'new'); // same length, another mtime
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const loaded = load(file);
    expect([loaded.cache, exported(loaded).answer()]).toEqual(['stale', 'new']);
  });

  it('takes a cache for other bytes of the same length and the same mtime for stale (a tarball extracted over an install: npm pack stamps every file 1985-10-26)', () => {
    const file = bundle('c.cjs', 'old');
    const npmTime = new Date('1985-10-26T08:15:00.000Z');
    utimesSync(file, npmTime, npmTime);
    const first = load(file);
    expect(exported(first).answer()).toBe('old'); // compiled, so the cache holds its code
    first.save();
    bundle('c.cjs', 'new'); // the next release: same length, extracted with the same fixed mtime
    utimesSync(file, npmTime, npmTime);
    const loaded = load(file);
    expect([loaded.cache, exported(loaded).answer()]).toEqual(['stale', 'new']);
  });

  it('does not take a cache file that is a symlink, whoever owns its target (a cache file is code)', () => {
    const file = bundle('e.cjs', 'mine');
    const first = load(file);
    expect(exported(first).answer()).toBe('mine');
    first.save();
    // Someone who may write compile-cache/ points the name at a file we own with their bytes in it.
    const planted = join(dir, 'upload.bin');
    renameSync(first.cacheFile, planted);
    symlinkSync(planted, first.cacheFile);
    expect(load(file).cache).toBe('untrusted');
  });

  it('does not take a cache file with a second hard link (its owner need not be who wrote it there)', () => {
    const file = bundle('f.cjs', 'linked');
    const first = load(file);
    first.save();
    linkSync(first.cacheFile, join(dir, 'f-elsewhere.bin'));
    expect(load(file).cache).toBe('untrusted');
  });

  // root may write anywhere, whatever the mode: only a user without that right sees this path.
  it.skipIf(process.geteuid?.() === 0)('loads with require(), and writes nothing, where no cache exists and none may be written', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    const file = join(locked, 'g.cjs');
    writeFileSync(file, '"use strict";\nexports.answer = () => "locked";\n');
    chmodSync(locked, 0o555);
    try {
      const loaded = load(file);
      expect([loaded.cache, (loaded.exports as { answer(): string }).answer()]).toEqual(['missing', 'locked']);
      expect(createRequire(file).cache[file]).toBeDefined(); // Node's loader, not vm
      loaded.save();
      expect(existsSync(loaded.cacheFile)).toBe(false);
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it('with useCache false, loads the bundle with require() and neither reads nor writes a cache', () => {
    const file = bundle('d.cjs', 'four');
    const loaded = load(file, false);
    expect([loaded.cache, exported(loaded).answer()]).toEqual(['off', 'four']);
    expect(createRequire(file).cache[file]).toBeDefined(); // Node's loader, not vm
    loaded.save();
    expect(existsSync(loaded.cacheFile)).toBe(false);
  });
});
