// The handle the e2e harness returns for a running front server, and how one is brought up.

import { readFile } from 'node:fs/promises';
import { waitForEndpoint } from './ports.js';
import { removePrefix } from './prefix.js';
import type { ServerProcess } from './process.js';

export interface FrontServer {
  /** Base URL, `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** The server's private directory (configs, logs, temp files, CGI scripts). */
  readonly prefix: string;
  /** The server's error log plus its stdout/stderr: printed when a test fails. */
  logs(): Promise<string>;
  /** SIGTERM (SIGKILL after a bound), then removes the prefix. */
  stop(): Promise<void>;
}

/**
 * Waits until a just-started server accepts on 127.0.0.1:`port`, and returns its handle; if it never
 * does, stops it, removes its prefix and throws with its error log and output.
 */
export async function awaitFrontServer(
  name: string,
  proc: ServerProcess,
  options: { prefix: string; port: number; errorLog: string },
): Promise<FrontServer> {
  const { prefix, port, errorLog } = options;
  const logs = async () => `${await readFile(errorLog, 'utf8').catch(() => '')}${proc.output()}`;
  try {
    await waitForEndpoint({ host: '127.0.0.1', port }, { isAlive: proc.alive });
  } catch (error) {
    const text = await logs();
    await proc.stop();
    await removePrefix(prefix);
    throw new Error(`${(error as Error).message}\n--- ${name} logs ---\n${text}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    prefix,
    logs,
    async stop() {
      await proc.stop();
      await removePrefix(prefix);
    },
  };
}
