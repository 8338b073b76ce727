// Starts the tsgi FastCGI daemon (`node dist/cli.cjs fastcgi <app> --listen ...`) for the e2e tests.
import { execPath } from 'node:process';
import { FIXTURE_APP, requireCli } from './paths.js';
import { describeEndpoint, freePort, waitForEndpoint, type Endpoint } from './ports.js';
import { startProcess, type ServerProcess } from './process.js';

/** The line the CLI prints on stderr once it accepts connections. */
export const READY_LINE = 'tsgi: fastcgi listening on';

export interface Daemon {
  readonly endpoint: Endpoint;
  readonly process: ServerProcess;
  logs(): string;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** A unix socket path; default: a free loopback tcp port. */
  socketPath?: string;
  /** Passed as --socket-mode; Apache's www-data children must be able to connect. */
  socketMode?: string;
  app?: string;
  /** More CLI options, e.g. ['--script-name', '/app']. */
  extraArgs?: string[];
}

export async function startDaemon({ socketPath, socketMode, app = FIXTURE_APP, extraArgs = [] }: DaemonOptions = {}): Promise<Daemon> {
  const cli = requireCli();
  const endpoint: Endpoint = socketPath ? { path: socketPath } : { host: '127.0.0.1', port: await freePort() };
  const listen = 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
  const args = [cli, 'fastcgi', app, '--listen', listen, ...(socketMode ? ['--socket-mode', socketMode] : []), ...extraArgs];
  const proc = startProcess('tsgi daemon', execPath, args);
  try {
    await proc.waitForOutput(READY_LINE, 10_000);
    await waitForEndpoint(endpoint, { isAlive: proc.alive, timeoutMs: 5_000 });
  } catch (error) {
    await proc.stop();
    throw new Error(`e2e: daemon on ${describeEndpoint(endpoint)} did not start: ${(error as Error).message}`);
  }
  return { endpoint, process: proc, logs: proc.output, stop: () => proc.stop() };
}
