// Restarts the `tsgi dev` server process when a file under the app's directory changes (--watch), from the supervisor's side.
//
// Not `node --watch-path`: on Linux, Node 20 watches each file's inode, so once an editor saves a
// file by renaming a new one over it (JetBrains' safe write, atomic-save tools) or by renaming it
// away first (vim's backup), later saves of that file go unnoticed for the rest of the session. A
// watch on each directory sees every entry written, created or renamed in it, whatever the inodes.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join, relative } from 'node:path';
import { TsgiError } from '../core/errors.js';

/** Set in the dev server's environment by {@link runWatched}; see {@link stopWithSupervisor}. */
const SUPERVISOR_ENV = 'TSGI_WATCH_SUPERVISOR';

/**
 * In a dev server started by {@link runWatched}: calls `stop` when the supervisor is gone (its IPC
 * channel closed: it was killed, or exited), and ignores SIGINT from now on, since a Ctrl-C at the
 * terminal reaches the supervisor too, which passes it on as SIGTERM. Removes the variable from the
 * environment, so that the app and what it starts do not see it.
 * @returns true when started so; then the caller stops on SIGTERM and SIGQUIT only. False (nothing
 *   done) in a process not started by runWatched.
 */
export function stopWithSupervisor(stop: () => void): boolean {
  if (process.env[SUPERVISOR_ENV] === undefined) return false;
  delete process.env[SUPERVISOR_ENV];
  if (process.channel === undefined) return false; // started without one
  process.on('SIGINT', () => {});
  // Gone already (killed while the app loaded): the channel is closed, and null.
  if (process.channel === null || !process.connected) {
    stop();
    return true;
  }
  process.once('disconnect', stop);
  // The channel must not keep the dev server alive once it has closed its server.
  process.channel.unref();
  return true;
}

/** Events closer together than this make one restart: one save is several events. */
const DEBOUNCE_MS = 200;

/** Names whose changes never restart: dotfiles (vim's .app.mjs.swp, .git), backups (app.mjs~), node_modules. */
function ignored(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || name === 'node_modules';
}

/** Every directory under `root`, itself included, with its inode; ignored names and symlinks left out. */
function directories(root: string): Map<string, number> {
  const found = new Map<string, number>();
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    try {
      found.set(dir, statSync(dir).ino);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && !ignored(entry.name)) pending.push(join(dir, entry.name));
      }
    } catch {
      // Removed while we looked, or unreadable: its parent's watch still reports it coming back.
    }
  }
  return found;
}

/**
 * Runs `node ...args` and runs it again after each change under `root` (in-place writes, files
 * renamed over others, new files and directories), stopping the old process with SIGTERM and
 * waiting for it to exit first, so the new one can bind the same port. A process that exits on its
 * own (the app failed to load) is started again at the next change. SIGINT and SIGTERM are passed
 * on as SIGTERM (a second one stops the dev server at once); the supervisor then exits with the
 * child's status.
 * @param root - the directory watched, with every subdirectory but ignored ones (see `ignored`).
 * @param args - the node arguments of the supervised process (the CLI's entry and its arguments).
 * @param log - log line sink, newline included.
 * @throws {TsgiError} code `TSGI_LOAD_APP` when `root` cannot be watched (e.g. it does not exist).
 */
export function runWatched(root: string, args: string[], log: (line: string) => void): void {
  const watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  let child: ChildProcess | undefined;
  let restarting = false;
  let stopping = false;
  let debounce: NodeJS.Timeout | undefined;
  let changed = root;

  // Watch new directories, and again those replaced (a new inode under the same name).
  const sync = (): void => {
    const found = directories(root);
    for (const [dir, entry] of watchers) {
      if (found.get(dir) !== entry.ino) {
        entry.watcher.close();
        watchers.delete(dir);
      }
    }
    for (const [dir, ino] of found) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, (_event, name) => onChange(dir, name));
        watcher.on('error', () => {
          watcher.close();
          if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
        });
        watchers.set(dir, { watcher, ino });
      } catch (error) {
        log(`tsgi: cannot watch ${dir}: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  };
  const onChange = (dir: string, name: string | null): void => {
    if (stopping || (name !== null && ignored(name))) return;
    changed = name === null ? dir : join(dir, name);
    clearTimeout(debounce);
    debounce = setTimeout(restart, DEBOUNCE_MS);
  };
  const restart = (): void => {
    sync();
    log(`tsgi: ${relative(root, changed) || '.'} changed, restarting\n`);
    if (child === undefined) start();
    else if (!restarting) {
      restarting = true;
      child.kill('SIGTERM');
    }
  };
  const start = (): void => {
    // In our process group, so job control (Ctrl-Z, fg) moves both. A Ctrl-C at the terminal signals
    // the whole group: the dev server ignores SIGINT (stopWithSupervisor) and stops on the SIGTERM
    // we pass on, once (twice would stop it at once, skipping the app's close()). The IPC channel
    // tells it when we are gone without stopping it (SIGKILL): it stops then.
    const current = spawn(process.execPath, args, {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, [SUPERVISOR_ENV]: String(process.pid) },
    });
    child = current;
    current.once('exit', (code, signal) => {
      child = undefined;
      if (stopping) process.exitCode = code ?? 1;
      else if (restarting) {
        restarting = false;
        start();
      } else log(`tsgi: the dev server exited (${code ?? signal}); it starts again at the next change\n`);
    });
  };

  sync();
  if (!watchers.has(root)) {
    throw new TsgiError('TSGI_LOAD_APP', `tsgi: cannot watch ${root}${existsSync(root) ? '' : ': it does not exist'}`);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopping = true;
      clearTimeout(debounce);
      for (const { watcher } of watchers.values()) watcher.close();
      watchers.clear();
      if (child !== undefined) child.kill('SIGTERM');
    });
  }
  start();
}
