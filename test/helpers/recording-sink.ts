// Test helper: a ResponseSink that records what the driver did, and a minimal environ to drive it.

import { BodyInput } from '../../src/core/input.js';
import { buildEnviron } from '../../src/core/environ.js';
import type { ResponseSink } from '../../src/core/driver.js';
import type { Environ, HeaderList } from '../../src/core/types.js';

export interface Recorded {
  events: string[];
  status?: string;
  headers?: HeaderList;
  body: Buffer[];
  ended: boolean;
  aborted: unknown;
  logs: string[];
}

/** A sink that records every call; `writeReturns` controls backpressure answers. */
export function recordingSink(options: { writeReturns?: boolean } = {}): {
  sink: ResponseSink;
  rec: Recorded;
  drainNow(): void;
} {
  const rec: Recorded = { events: [], body: [], ended: false, aborted: undefined, logs: [] };
  let drainWaiter: (() => void) | undefined;
  const sink: ResponseSink = {
    start(status, headers) {
      rec.events.push(`start ${status}`);
      rec.status = status;
      rec.headers = headers;
    },
    write(chunk) {
      rec.events.push(`write ${Buffer.from(chunk).toString()}`);
      rec.body.push(Buffer.from(chunk));
      return options.writeReturns ?? true;
    },
    drain() {
      rec.events.push('drain');
      return new Promise((resolve) => {
        drainWaiter = resolve;
      });
    },
    end() {
      rec.events.push('end');
      rec.ended = true;
    },
    abort(error) {
      rec.events.push('abort');
      rec.aborted = error ?? true;
    },
  };
  return { sink, rec, drainNow: () => drainWaiter?.() };
}

/** A normalised environ for a request, with an AbortController to fire tsgi.signal. */
export function testEnviron(
  params: Record<string, string> = {},
  body?: Uint8Array,
): { environ: Environ; controller: AbortController; input: BodyInput } {
  const controller = new AbortController();
  let input: BodyInput | undefined;
  const environ = buildEnviron(
    { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', SERVER_NAME: 'test', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', ...params },
    {
      input: (contentLength) => {
        input = new BodyInput({ contentLength });
        if (body !== undefined) {
          input.push(body);
          input.end();
        }
        return input;
      },
      errors: { write: () => {} },
      signal: controller.signal,
      multithread: false,
      multiprocess: false,
      runOnce: true,
    },
  );
  return { environ, controller, input: input as BodyInput };
}
