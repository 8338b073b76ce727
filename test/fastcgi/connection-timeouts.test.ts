// Tests the connection's timeout bookkeeping with made-up clocks and socket states: no sockets, no timers.

import { describe, expect, it } from 'vitest';
import { ConnectionTimeouts, type LiveRequests, type SocketState } from '../../src/fastcgi/connection-timeouts.js';
import type { AwaitedInput } from '../../src/fastcgi/request-input.js';

const LIMITS = { idleTimeoutMs: 1000, requestTimeoutMs: 500, lingerMs: 200 };
const open: SocketState = { writableLength: 0, writableEnded: false, writableFinished: false };
const waiting = (bytes: number): SocketState => ({ ...open, writableLength: bytes });
const ended: SocketState = { writableLength: 0, writableEnded: true, writableFinished: true };

/** Live requests: `receiving` ones wait for `awaiting` (default FCGI_STDIN), the others run their app. */
function live(...requests: Array<{ id: number; receiving: boolean; awaiting?: AwaitedInput }>): LiveRequests {
  const shown = requests.map(({ id, receiving, awaiting = 'FCGI_STDIN' }) => ({ id, awaiting: receiving ? awaiting : undefined }));
  return { size: shown.length, some: (test) => shown.some(test) };
}
const none = live();

describe('ConnectionTimeouts', () => {
  it('ends an idle connection after idleTimeoutMs without a byte; any byte restarts it', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    expect(clocks.check(999, open, none)).toBeUndefined();
    clocks.heard(900);
    expect(clocks.check(1500, open, none)).toBeUndefined();
    expect(clocks.check(1900, open, none)).toEqual({ kind: 'end' });
  });

  it('starts the idle clock when the last request ends, not at its last byte', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    clocks.idleSince(5000); // a request ran the app from 0 to 5000
    expect(clocks.check(5999, open, none)).toBeUndefined();
    expect(clocks.check(6000, open, none)).toEqual({ kind: 'end' });
  });

  it('drops a receiving request not fed for requestTimeoutMs, naming it; other bytes do not count', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    clocks.fed(1); // BEGIN_REQUEST at 0
    clocks.heard(300); // a GET_VALUES, padding, another request's records...
    clocks.fed(2);
    const requests = live({ id: 1, receiving: true }, { id: 2, receiving: true });
    expect(clocks.check(499, open, requests)).toBeUndefined();
    expect(clocks.check(500, open, requests)).toEqual({ kind: 'drop', reason: 'request 1 received nothing on FCGI_STDIN for 500 ms' });
  });

  it.each([
    ['FCGI_PARAMS', 'its params (any role)'],
    ['FCGI_STDIN', 'its body'],
    ['FCGI_DATA', "a filter's data, its body received (spec §6.4)"],
    ['FCGI_STDIN and FCGI_DATA', "a filter's body and data, neither ended"],
  ] as const)('names the stream a request stalled in: %s for %s', (awaiting, _what) => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    clocks.fed(3);
    const requests = live({ id: 1, receiving: false }, { id: 3, receiving: true, awaiting });
    expect(clocks.check(500, open, requests)).toEqual({ kind: 'drop', reason: `request 3 received nothing on ${awaiting} for 500 ms` });
  });

  it('restarts a request clock with each record it takes, from the read that brought it', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    clocks.fed(1);
    clocks.heard(400);
    clocks.fed(1);
    expect(clocks.check(899, open, live({ id: 1, receiving: true }))).toBeUndefined();
    expect(clocks.check(900, open, live({ id: 1, receiving: true }))?.kind).toBe('drop');
  });

  it('never times out a request whose app is running (it receives nothing more)', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    clocks.fed(1);
    expect(clocks.check(60_000, open, live({ id: 1, receiving: false }))).toBeUndefined();
  });

  it('drops the connection when response bytes wait idleTimeoutMs without any leaving', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    const busy = live({ id: 1, receiving: false });
    expect(clocks.check(100, waiting(65536), busy)).toBeUndefined(); // starts waiting
    expect(clocks.check(1099, waiting(65536), busy)).toBeUndefined(); // past requestTimeoutMs: not that one
    expect(clocks.check(1100, waiting(70000), busy)).toEqual({ kind: 'drop', reason: 'the web server took no response bytes for 1000 ms' });
  });

  it('counts a drain, or fewer bytes waiting, as progress', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    const busy = live({ id: 1, receiving: false });
    clocks.check(0, waiting(65536), busy);
    expect(clocks.check(900, waiting(30000), busy)).toBeUndefined(); // some left at 900
    expect(clocks.check(1800, waiting(30000), busy)).toBeUndefined();
    clocks.drained(); // all left; the app wrote as much again since
    expect(clocks.check(2000, waiting(65536), busy)).toBeUndefined();
    expect(clocks.check(2900, waiting(65536), busy)).toBeUndefined();
    expect(clocks.check(3000, waiting(65536), busy)?.kind).toBe('drop');
  });

  it('destroys a connection lingerMs after our side was ended and flushed, and waits while it is not flushed', () => {
    const clocks = new ConnectionTimeouts(LIMITS, 0);
    expect(clocks.check(0, { ...ended, writableFinished: false }, none)).toBeUndefined();
    expect(clocks.check(100, ended, none)).toBeUndefined(); // first seen finished
    expect(clocks.check(299, ended, none)).toBeUndefined();
    expect(clocks.check(300, ended, none)).toEqual({ kind: 'destroy' });
  });

  it('never fires a timeout of 0', () => {
    const clocks = new ConnectionTimeouts({ idleTimeoutMs: 0, requestTimeoutMs: 0, lingerMs: 0 }, 0);
    clocks.fed(1);
    expect(clocks.check(1e9, open, none)).toBeUndefined();
    expect(clocks.check(1e9, open, live({ id: 1, receiving: true }))).toBeUndefined();
    clocks.check(1e9, waiting(10), none);
    expect(clocks.check(2e9, waiting(10), none)).toBeUndefined();
    clocks.check(1e9, ended, none);
    expect(clocks.check(2e9, ended, none)).toBeUndefined();
  });
});
