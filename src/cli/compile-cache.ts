// Loads the CLI's CommonJS bundle through a V8 code cache kept beside it (the bin's side of a CGI start-up).
//
// A CGI request starts a process, and compiling dist/cli-core.cjs plus the functions a request runs
// is ~3 ms of its ~30 (docs/performance.md "CGI start-up"). Node 20 has no compile cache for user
// code (module.enableCompileCache() is Node 22.1+), so the bin compiles the bundle itself with
// vm.Script and V8's cachedData, which Python's __pycache__ resembles: written beside the code when
// the directory is writable, keyed to the interpreter, checked against the source file's identity (inode, size, mtime, ctime).

import { accessSync, closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** The first bytes of a cache file: a tag for this format, then the source's identity (see HEADER_BYTES). */
const MAGIC = 'tsgi-cc2';
/**
 * MAGIC, then the source's identity as five uint64s (device, inode, size in bytes, mtime and ctime
 * in ns), then V8's cachedData. Size and mtime alone do not tell two releases apart: tar and npm
 * stamp every file with one fixed mtime (npm pack: 1985-10-26), and a fix may keep the length. The
 * inode and ctime change whenever the file is written or replaced, and no tool can set them.
 */
const IDENTITY_FIELDS = 5;
const HEADER_BYTES = MAGIC.length + 8 * IDENTITY_FIELDS;

/** The fields of the header after MAGIC, in order ({@link IDENTITY_FIELDS} of them). */
function identity(source: BigIntStats): bigint[] {
  return [source.dev, source.ino, source.size, source.mtimeNs, source.ctimeNs];
}

/** Where the header's field `i` starts. */
function fieldAt(i: number): number {
  return MAGIC.length + 8 * i;
}

/** What became of the cache when the bundle was compiled. */
export type CacheState =
  /** V8 took the cached code. */
  | 'used'
  /** No cache file for this Node version and architecture (or it could not be read). */
  | 'missing'
  /** The caller said not to use one: neither read nor written (Node's loader compiles the file). */
  | 'off'
  /** A cache file for another build of the bundle (the source file was written or replaced since). */
  | 'stale'
  /** A cache file owned by a user other than us, root and the bundle's owner: not used. */
  | 'untrusted'
  /** V8 refused the cached code (another V8 build, other V8 flags, a damaged file). */
  | 'rejected';

/** A bundle compiled by {@link loadCompiled}. */
export interface CompiledModule {
  /** The bundle's `module.exports` after it ran. */
  exports: unknown;
  /** What became of the cache file. */
  cache: CacheState;
  /** Where the cache file for this Node version and architecture is (whether or not it exists). */
  cacheFile: string;
  /**
   * Writes the cache file from what V8 has compiled so far (the functions that ran included), unless
   * the cache was used. Never throws: a directory we may not write (an install owned by another user)
   * only means the next process compiles again. Synchronous, so it can run just before exit.
   */
  save(): void;
}

/**
 * Compiles and runs a CommonJS file the way Node's loader would (the usual wrapper and its five
 * parameters), taking V8's compiled code from `<dir>/compile-cache/<name>-<node version>-<arch>.cache`
 * (`…-<arch>-<hash of Node's options>.cache` when Node runs with options)
 * when that file is for this very source. When there is none to use and none could be written
 * (a directory we may not write), or `useCache` is false, `requireFn` loads it instead.
 *
 * The code V8 compiles here cannot use `import()` (vm.Script gives it no loader without an
 * experimental flag): the bundle must be built without dynamic imports and get `import()` from its
 * caller (tsup.config.ts, src/cli/bin.ts).
 *
 * Trust: a cache file is code. It is used only if the user running us, root, or the owner of `file`
 * (who could change the code itself) owns it, so a directory the web server's user may write cannot
 * plant code in a daemon run by someone else.
 * V8 checks a cache's V8 version and flags, but matches the source by length alone: the file's
 * identity in our header (inode, ctime, size, mtime) is what tells a rebuilt bundle from the one the cache was made for.
 * @param file - absolute path of the CommonJS file.
 * @param requireFn - the `require` the bundle gets (resolving from the caller's directory).
 * @param useCache - false: `requireFn` loads the file; no cache file is read or written.
 * @throws what reading `file` or running it throws (a syntax error, an error at its top level).
 */
export function loadCompiled(file: string, requireFn: NodeJS.Require, useCache = true): CompiledModule {
  const cacheFile = join(dirname(file), 'compile-cache', `${basename(file, '.cjs')}-${process.version}-${process.arch}${flagsTag()}.cache`);
  if (!useCache) return required(file, requireFn, 'off', cacheFile);
  // The source is stat'ed only when there is a cache to check or one may be written: an install the
  // web server's user may not write to (the usual one) pays one failed open and two access checks.
  let sourceStats: BigIntStats | undefined;
  const source = (): BigIntStats => (sourceStats ??= statSync(file, { bigint: true }));
  const { cachedData, state: found } = readCache(cacheFile, source);
  // Without a cache to use or one to write, Node's own loader compiles the file a little faster
  // than vm.Script does (~1 ms).
  if (found !== 'used' && !mayWrite(dirname(cacheFile))) return required(file, requireFn, found, cacheFile);
  const stats = source();
  const code = readFileSync(file, 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, {
    filename: file,
    ...(cachedData !== undefined ? { cachedData } : {}),
  });
  const cache: CacheState = found === 'used' && script.cachedDataRejected === true ? 'rejected' : found;
  const module = { exports: {} as unknown };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, requireFn, module, file, dirname(file));
  return {
    get exports() {
      return module.exports;
    },
    cache,
    cacheFile,
    save: () => {
      if (cache !== 'used') writeCache(cacheFile, stats, script.createCachedData());
    },
  };
}

/**
 * Part of the cache's name for the options Node runs with (`process.execArgv`, NODE_OPTIONS): V8
 * refuses a cache made under other flags, so processes run with and without, say,
 * `--max-old-space-size` (one site's NODE_OPTIONS) each keep their own file instead of replacing
 * the other's on every request. Empty without options; else `-` and an FNV-1a hash in hex.
 */
function flagsTag(): string {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`.trim();
  if (flags === '') return '';
  let hash = 0x811c9dc5;
  for (let i = 0; i < flags.length; i++) hash = Math.imul(hash ^ flags.charCodeAt(i), 0x01000193) >>> 0;
  return `-${hash.toString(16).padStart(8, '0')}`;
}

/** `file` loaded by Node's loader, with nothing to save. */
function required(file: string, requireFn: NodeJS.Require, cache: CacheState, cacheFile: string): CompiledModule {
  return { exports: requireFn(file), cache, cacheFile, save: () => {} };
}

/** Whether we may create or replace a file in `dir`, or create `dir` in its parent. */
function mayWrite(dir: string): boolean {
  for (const target of [dir, dirname(dir)]) {
    try {
      accessSync(target, constants.W_OK);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
  }
  return false;
}

/** The cache file's code, if it is for `source()` (called only when a cache file is there). */
function readCache(cacheFile: string, source: () => BigIntStats): { cachedData?: Buffer; state: CacheState } {
  let fd: number;
  try {
    // Not through a symlink (or a second hard link): the owner checked must be the owner of what
    // was written under this name, not of any file someone who may write the directory points it at
    // (an upload the app saved, say).
    fd = openSync(cacheFile, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    return { state: (error as NodeJS.ErrnoException).code === 'ELOOP' ? 'untrusted' : 'missing' };
  }
  try {
    const stats = fstatSync(fd);
    const owner = stats.uid;
    if (!stats.isFile() || stats.nlink !== 1) return { state: 'untrusted' };
    const sourceStats = source();
    if (owner !== process.geteuid?.() && owner !== 0 && owner !== Number(sourceStats.uid)) return { state: 'untrusted' };
    const bytes = readFileSync(fd);
    if (bytes.length <= HEADER_BYTES || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) return { state: 'rejected' };
    if (identity(sourceStats).some((value, i) => bytes.readBigUInt64LE(fieldAt(i)) !== value)) return { state: 'stale' };
    return { cachedData: bytes.subarray(HEADER_BYTES), state: 'used' };
  } catch {
    return { state: 'missing' };
  } finally {
    closeSync(fd);
  }
}

/** Writes to a temporary name and renames it into place: concurrent CGI processes each write a whole file. */
function writeCache(cacheFile: string, source: BigIntStats, data: Buffer): void {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  identity(source).forEach((value, i) => header.writeBigUInt64LE(value, fieldAt(i)));
  // A name no other process (another pid namespace sharing the directory included) writes, created
  // exclusively: an existing file or symlink of that name is never written through.
  const temporary = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o755 }); // never writable by others, whatever the umask
    // On disk before it has its name: V8 checks no checksum of the code it takes (release builds),
    // so a torn file whose header survived would crash every later process.
    const fd = openSync(temporary, 'wx', 0o644);
    try {
      writeFileSync(fd, Buffer.concat([header, data]));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, cacheFile);
  } catch {
    // Not writable (or full): the next process compiles as it would without a cache.
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing we could write, so nothing left behind.
    }
  }
}
