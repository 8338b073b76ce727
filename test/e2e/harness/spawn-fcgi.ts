// Starts the tsgi daemon under spawn-fcgi for the e2e tests: spawn-fcgi binds the socket and execs tsgi with it on fd 0.
//
// `spawn-fcgi -n` (no fork) execs the program in its own process, so the harness holds the daemon's
// pid and stops it like startDaemon() does. No --listen: tsgi finds the listening socket on fd 0
// (FCGI_LISTENSOCK_FILENO, FastCGI spec §2.2), as under mod_fcgid and lighttpd.
import { execPath } from 'node:process';
import { SPAWN_FCGI } from './binaries.js';
import { READY_LINE, type Daemon } from './daemon.js';
import { FIXTURE_APP, requireCli } from './paths.js';
import { waitForEndpoint, type Endpoint } from './ports.js';
import { startProcess } from './process.js';

export interface SpawnFcgiOptions {
  /** The unix socket spawn-fcgi creates (-s). */
  socketPath: string;
  /** Its permissions (-M); the nginx workers must be able to connect. Default 0600 (the harness runs nginx's workers as the test's user). */
  socketMode?: string;
  app?: string;
}

/** `spawn-fcgi -n -s <socket> -M <mode> -- node dist/cli.cjs fastcgi <app>`. */
export async function startSpawnFcgi({ socketPath, socketMode = '0600', app = FIXTURE_APP }: SpawnFcgiOptions): Promise<Daemon> {
  const spawnFcgi = SPAWN_FCGI.require();
  const cli = requireCli();
  const endpoint: Endpoint = { path: socketPath };
  const args = ['-n', '-s', socketPath, '-M', socketMode, '--', execPath, cli, 'fastcgi', app];
  const proc = startProcess('spawn-fcgi → tsgi', spawnFcgi, args);
  try {
    // The CLI names where it listens: "fd:0" here, not a path (it did not bind the socket itself).
    await proc.waitForOutput(`${READY_LINE} fd:0`, 10_000);
    await waitForEndpoint(endpoint, { isAlive: proc.alive, timeoutMs: 5_000 });
  } catch (error) {
    await proc.stop();
    throw new Error(`e2e: spawn-fcgi on ${socketPath} did not start tsgi: ${(error as Error).message}`);
  }
  return { endpoint, process: proc, logs: proc.output, stop: () => proc.stop() };
}
