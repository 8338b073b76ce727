// Decides when a FastCGI connection's timeouts run out, from the application side: bookkeeping only, no timers.

import type { AwaitedInput } from './request-input.js';
import { RequestTable } from './request-table.js';

/** The timeouts in milliseconds (0: never). */
export interface TimeoutLimits {
  /**
   * A connection with no live request may stay silent this long, and response bytes may wait this
   * long for the web server to take any.
   */
  idleTimeoutMs: number;
  /** A request may wait this long for its FCGI_PARAMS, FCGI_STDIN or FCGI_DATA. */
  requestTimeoutMs: number;
  /** Once the daemon has ended its side, the web server has this long to close its own. */
  lingerMs: number;
}

/** What the sweep sees of the socket (a `net.Socket` fits). */
export interface SocketState {
  /** Bytes Node holds because the kernel will not take them. */
  readonly writableLength: number;
  /** Our side has been ended (`end()` called). */
  readonly writableEnded: boolean;
  /** ... and everything, FIN included, has been handed to the kernel. */
  readonly writableFinished: boolean;
}

/** The live requests, as far as timeouts care (a `RequestTable<FastCgiRequest>` fits). */
export interface LiveRequests {
  readonly size: number;
  some(test: (request: { readonly id: number; readonly awaiting: AwaitedInput }) => boolean): boolean;
}

/** What to do with the connection: end our side, destroy it quietly, or drop it with a log line. */
export type TimeoutAction = { kind: 'end' } | { kind: 'destroy' } | { kind: 'drop'; reason: string };

const END: TimeoutAction = { kind: 'end' };
const DESTROY: TimeoutAction = { kind: 'destroy' };

/**
 * The clocks of one connection, read by the server's sweep (`check`), so that no timer is touched
 * per request or per read (a socket timeout re-arms a Node timer on every read: 5.7 µs per 1 MiB
 * upload in the profile). Four clocks, checked in this order:
 * - **send:** while Node holds response bytes the kernel will not take, `idleTimeoutMs` in which
 *   none left (a 'drain', or fewer bytes waiting than at the last sweep) drops the connection;
 *   whether a request waits for 'drain' or our side has ended behind them. The idle timeout (120 s
 *   by default) rather than the request timeout: on loopback the kernel takes bytes back in steps
 *   of about 1.5 MiB, so a client reading a streamed download at ~25 KB/s through nginx with
 *   buffering off shows no progress for a minute at a time;
 * - **linger:** once our side is ended and flushed (no FCGI_KEEP_CONN, idle timeout, graceful
 *   stop), the web server has `lingerMs` to close its own; then the socket is destroyed quietly;
 * - **idle:** no live request and no byte from the web server (any byte counts) for
 *   `idleTimeoutMs`: our side is ended quietly;
 * - **request:** a request the web server still owes PARAMS, STDIN or DATA gets `requestTimeoutMs`
 *   from its BEGIN_REQUEST or the last such record it took (per request: padding, management
 *   records, other requests' records and records of a stream it no longer takes, such as a
 *   filter's STDIN after its empty record, do not count), then the connection is dropped
 *   (slowloris), with a line naming the stream it waited on. Requests whose app is running are
 *   never timed out.
 * Each clock is read at a sweep, so it runs out up to one sweep period late.
 */
export class ConnectionTimeouts {
  readonly #limits: TimeoutLimits;
  /** When the web server last sent a byte, or the last live request ended (ms, Date.now()). */
  #activeAt: number;
  /** When each live request was last fed, by request id. */
  readonly #fedAt = new RequestTable<number>();
  /** `writableLength` at the last sweep (0: nothing was waiting). */
  #pendingSeen = 0;
  /** When response bytes were last seen to leave, or to begin waiting. */
  #sentAt = 0;
  /** When our side was first seen ended and flushed (0: not yet). */
  #finishedAt = 0;

  /** @param now - `Date.now()` when the connection was accepted. */
  constructor(limits: TimeoutLimits, now: number) {
    this.#limits = limits;
    this.#activeAt = now;
  }

  /** Bytes arrived from the web server (once per socket read, not per record). */
  heard(now: number): void {
    this.#activeAt = now;
  }

  /** The connection's last live request ended: it is idle from `now`. */
  idleSince(now: number): void {
    this.#activeAt = now;
  }

  /**
   * Request `id` began, or took a PARAMS, STDIN or DATA record: its clock restarts, from the last
   * read (`heard`). Call it before handing the record on: that may end the request at once.
   */
  fed(id: number): void {
    this.#fedAt.set(id, this.#activeAt);
  }

  /** Request `id` ended. */
  forget(id: number): void {
    this.#fedAt.delete(id);
  }

  /** The socket emitted 'drain': everything queued has left. */
  drained(): void {
    this.#pendingSeen = 0;
  }

  /**
   * Reads the clocks (see the class comment).
   * @param now - `Date.now()` of the sweep.
   * @returns what to do with the connection, or undefined for nothing.
   */
  check(now: number, socket: SocketState, requests: LiveRequests): TimeoutAction | undefined {
    const { idleTimeoutMs, requestTimeoutMs, lingerMs } = this.#limits;
    const pending = socket.writableLength;
    if (pending === 0) {
      this.#pendingSeen = 0;
    } else {
      if (this.#pendingSeen === 0 || pending < this.#pendingSeen) this.#sentAt = now;
      this.#pendingSeen = pending;
      if (idleTimeoutMs > 0 && now - this.#sentAt >= idleTimeoutMs) {
        return { kind: 'drop', reason: `the web server took no response bytes for ${idleTimeoutMs} ms` };
      }
    }
    if (socket.writableEnded) {
      if (!socket.writableFinished) return undefined; // still sending: the send clock above
      if (this.#finishedAt === 0) this.#finishedAt = now;
      else if (lingerMs > 0 && now - this.#finishedAt >= lingerMs) return DESTROY;
      return undefined;
    }
    if (requests.size === 0) {
      return idleTimeoutMs > 0 && now - this.#activeAt >= idleTimeoutMs ? END : undefined;
    }
    if (requestTimeoutMs <= 0) return undefined;
    const fedAt = this.#fedAt;
    let stalled = -1;
    let input: AwaitedInput;
    requests.some((request) => {
      input = request.awaiting;
      if (input !== undefined && now - (fedAt.get(request.id) ?? now) >= requestTimeoutMs) stalled = request.id;
      return stalled >= 0;
    });
    if (stalled < 0) return undefined;
    return { kind: 'drop', reason: `request ${stalled} received nothing on ${input} for ${requestTimeoutMs} ms` };
  }
}
