// Checks how a front server uses daemon connections (FCGI_KEEP_CONN, reuse), registered next to the shared suite.
//
// suite.ts checks reuse where a server keeps connections open; these checks cover the other cases:
// a front server that opens a connection per request, with or without FCGI_KEEP_CONN, and the
// daemon's duty to close the connection itself when the flag is not set (FastCGI spec §5.1).
import { expect, it } from 'vitest';
import { rawRequest } from './fcgi-client.js';
import { fetchRaw } from './http.js';
import type { Target } from './target.js';

export interface ConnectionUse {
  /** BEGIN_REQUEST carries FCGI_KEEP_CONN (the app sees `fastcgi.keep_conn`). */
  keepConnFlag: boolean;
  /** Sequential requests share one daemon connection. */
  reused: boolean;
}

interface ConnInfo {
  pid: number;
  connectionId: number;
  keepConn: boolean;
}

async function conn(url: string): Promise<ConnInfo> {
  const res = await fetchRaw(url);
  expect(res.status, res.body.toString()).toBe(200);
  return JSON.parse(res.body.toString()) as ConnInfo;
}

/** Registers the connection checks for `use`; `getTarget` is read when each check runs. */
export function defineConnectionChecks(getTarget: () => Target, use: ConnectionUse): void {
  const flag = use.keepConnFlag ? 'sets FCGI_KEEP_CONN' : 'leaves FCGI_KEEP_CONN unset';
  const reuse = use.reused ? 'one connection for sequential requests' : 'a new daemon connection per request';
  it(`${flag} and uses ${reuse} (FastCGI spec §5.1)`, async () => {
    const seen: ConnInfo[] = [];
    for (let i = 0; i < 5; i++) seen.push(await conn(`${getTarget().root}/conn`));
    for (const info of seen) expect(info.keepConn).toBe(use.keepConnFlag);
    // Connection ids count per process, so a process manager's pids are part of the key.
    const connections = new Set(seen.map((info) => `${info.pid}/${info.connectionId}`));
    expect(connections.size).toBe(use.reused ? 1 : seen.length);
  });

  it.runIf(!use.keepConnFlag)('the daemon closes the connection after FCGI_END_REQUEST when FCGI_KEEP_CONN is not set', async (context) => {
    const daemon = getTarget().daemon;
    if (!daemon) return context.skip('no direct daemon address for this target');
    const exchange = await rawRequest(daemon, {
      params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/hello', QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1' },
    });
    expect(exchange.end).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(exchange.stdout.toString()).toMatch(/\r\n\r\nhello\n$/);
    expect(exchange.closedByDaemon).toBe(true);
  });
}
