// The net.Socket face of an in-memory connection: the address fields and methods frameworks use.

import { Duplex, type DuplexOptions } from 'node:stream';
import type { Environ } from '../core/types.js';

/**
 * A Duplex that frameworks can take for a `net.Socket`: `remoteAddress`/`remotePort`/`remoteFamily`
 * (REMOTE_ADDR/REMOTE_PORT), `localAddress`/`localPort` (SERVER_ADDR/SERVER_PORT), and `encrypted`
 * (true for https, which is how Express's `req.protocol` and Koa's `ctx.protocol` detect TLS), set
 * once from the first request's environ; timers and TCP options are no-ops.
 */
export class MemorySocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly encrypted: true | undefined;
  readonly connecting = false;
  readonly pending = false;

  /**
   * @param environ - the environ the address fields come from (RFC 3875 §4.1.8, §4.1.15, §4.1.16).
   * @param options - the Duplex's own options.
   */
  constructor(environ: Environ, options: DuplexOptions) {
    super(options);
    const port = Number(environ.REMOTE_PORT);
    this.remoteAddress = stringOr(environ.REMOTE_ADDR);
    this.remotePort = Number.isInteger(port) && port > 0 ? port : undefined;
    this.remoteFamily = this.remoteAddress === undefined ? undefined : this.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.localAddress = stringOr(environ.SERVER_ADDR);
    this.localPort = Number(environ.SERVER_PORT);
    this.encrypted = environ['tsgi.url_scheme'] === 'https' ? true : undefined;
  }

  // --- net.Socket methods frameworks call; a memory pipe has no timers or TCP options. ---
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this.localAddress === undefined ? {} : { address: this.localAddress, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4', port: this.localPort ?? 0 };
  }
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
