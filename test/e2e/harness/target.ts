// Describes one front server + transport the shared e2e checks run against, local or already running.
import { beforeEach } from 'vitest';

/** One way of reaching the fixture app (test/fixtures/app.mjs) through a real front server. */
export interface Target {
  /** e.g. "nginx → FastCGI (tcp)". */
  label: string;
  transport: 'fastcgi' | 'cgi';
  /** URL of the root mount without a trailing slash; the app's paths are appended ("/hello"). */
  root: string;
  /** SCRIPT_NAME the app must see for requests under `root` ("" for a mount at "/"). */
  rootScriptName: string;
  /** A second mount of the same app under a sub-path, when the sample config has one. */
  sub?: { url: string; scriptName: string };
  /** SERVER_NAME the app must see: nginx sends its server_name, Apache the Host header's name. */
  serverName: string;
  /** True when client and server share this machine (so REMOTE_ADDR is 127.0.0.1). */
  local: boolean;
  /** The daemon's address, for checks that talk FastCGI to it directly (absent under CGI). */
  daemon?: { host: string; port: number } | { path: string };
  /** Front server and daemon logs, printed when a check fails. */
  logs(): Promise<string>;
}

/** A URL given in the environment (docker/compose.yaml), trailing slash removed; undefined if unset. */
export function remoteUrl(name: string): string | undefined {
  const value = process.env[name];
  return value ? value.replace(/\/+$/, '') : undefined;
}

/** "host:port" from the environment, e.g. TSGI_E2E_DAEMON_ADDR=daemon:9000. */
export function remoteDaemon(name: string): { host: string; port: number } | undefined {
  const value = process.env[name];
  if (!value) return undefined;
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
}

/** Prints the target's logs under a failed test, so a CI failure shows what the server said. */
export function printLogsOnFailure(getTarget: () => Target | undefined): void {
  beforeEach((context) => {
    context.onTestFailed(async () => {
      const target = getTarget();
      if (!target) return;
      console.error(`--- logs of ${target.label} ---\n${await target.logs()}`);
    });
  });
}
