// Starts a server process for the e2e tests, keeps its output, and stops it with a bounded SIGTERM → SIGKILL.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  alive(): boolean;
  /** Resolves once `text` appears in the output (bounded), rejects when the process exits first. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export function startProcess(name: string, command: string, args: string[], options: SpawnOptions = {}): ServerProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  let exited = false;
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      output += `\n[${name} exited: code=${code} signal=${signal}]\n`;
      for (const listener of listeners) listener();
      resolve();
    });
    // spawn failures (ENOENT) arrive as 'error' without 'exit'.
    child.once('error', (error) => {
      exited = true;
      output += `\n[${name} failed to start: ${error.message}]\n`;
      for (const listener of listeners) listener();
      resolve();
    });
  });

  return {
    child,
    name,
    output: () => output,
    alive: () => !exited,
    waitForOutput(text, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) done(null);
          else if (exited) done(new Error(`e2e: ${name} exited before printing ${JSON.stringify(text)}:\n${output}`));
        };
        const timer = setTimeout(
          () => done(new Error(`e2e: ${name} did not print ${JSON.stringify(text)} within ${timeoutMs} ms:\n${output}`)),
          timeoutMs,
        );
        const done = (error: Error | null) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** True while a process with this pid exists (signal 0 probes without sending anything). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
