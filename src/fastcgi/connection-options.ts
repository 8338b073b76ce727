// The settings a FastCGI connection shares with its server (FastCgiServerOptions, resolved).

import type { App } from '../core/types.js';

/** Settings a connection shares with its server. */
export interface ConnectionOptions {
  app: App;
  /** Server log line sink (newline included). */
  log: (line: string) => void;
  /** Whether the app's `tsgi.errors` text also goes to `log` (it always goes out as FCGI_STDERR). */
  echoErrors: boolean;
  /** Advertised as FCGI_MAX_CONNS (spec §4.1). */
  maxConns: number;
  /** Whether requests may be multiplexed on one connection (FCGI_MPXS_CONNS, spec §4.1). */
  multiplex: boolean;
  /** Live requests accepted per connection when multiplexing; more get FCGI_OVERLOADED. */
  maxRequestsPerConnection: number;
  /** Largest PARAMS stream accepted per request, in bytes. */
  maxParamsBytes: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Request body bytes held in memory per request before the rest goes to a temp file. */
  bodyMemoryBytes: number;
  /**
   * Milliseconds a connection with no live request may stay silent before it is closed, and response
   * bytes may wait for the web server to take any before the connection is dropped.
   */
  idleTimeoutMs: number;
  /**
   * Milliseconds a request may wait for more of its PARAMS, STDIN or (a filter's) DATA before the
   * connection is dropped.
   */
  requestTimeoutMs: number;
  /** Milliseconds the web server gets to close its side once the daemon has ended its own. */
  lingerMs: number;
  /** True when several daemon processes serve the same socket. */
  multiprocess: boolean;
  /** The app's mount point (`--script-name`), or undefined to keep the front server's split. */
  scriptName: string | undefined;
  /** Called each time a request ends, however it ended (a worker counts them for `--max-requests`). */
  onRequestDone?: (() => void) | undefined;
}
