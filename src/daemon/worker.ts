// Runs one worker process of the daemon, from the worker's side: tells the primary when it listens and when it is due for retirement, obeys its stop orders.

import type { Stopper } from './lifecycle.js';

/**
 * What a worker and its primary say to each other over the IPC channel node:cluster sets up. Every
 * message is an object with a `tsgi` key, so an app's own `process.send()` traffic is ignored.
 * - worker → primary: `listening` (the app loaded and the socket its primary passed accepts),
 *   `retiring` (it served `--max-requests` requests: start its replacement, then tell it to stop);
 * - primary → worker: `stop` (finish the running requests, call the app's `close()` hook, and
 *   exit, all within `--grace-ms`), `stop-now` (exit at once, no hook).
 */
export type WorkerMessage =
  | { tsgi: 'listening' }
  | { tsgi: 'retiring' }
  | { tsgi: 'stop' }
  | { tsgi: 'stop-now' };

/** True for a message of {@link WorkerMessage}'s shape with the given order. */
export function isWorkerMessage(message: unknown, order: WorkerMessage['tsgi']): boolean {
  return typeof message === 'object' && message !== null && (message as { tsgi?: unknown }).tsgi === order;
}

/** Options for {@link WorkerSide}. */
export interface WorkerSideOptions {
  /** Retire after this many requests (`--max-requests`); 0 never. */
  maxRequests: number;
  /** Sends a message to the primary: `process.send` in a worker. */
  send: (message: WorkerMessage) => void;
  /** The worker's stopper, shared with its signal handlers (lifecycle.ts). */
  stopper: Stopper;
}

/**
 * The worker's half of the conversation with its primary (daemon/workers.ts). The worker keeps
 * serving after it asked to retire, until the primary's `stop`: its replacement is listening by
 * then, so the socket always has a worker accepting on it (with `--workers 1` too).
 * @example
 * const side = new WorkerSide({ maxRequests: 1000, send: (m) => process.send!(m), stopper });
 * process.on('message', (m) => side.receive(m));
 * new FastCgiServer({ app, onRequestDone: () => side.requestDone() });
 */
export class WorkerSide {
  readonly #options: WorkerSideOptions;
  #served = 0;
  #retiring = false;

  constructor(options: WorkerSideOptions) {
    this.#options = options;
  }

  /** Tells the primary that this worker accepts connections (on the socket the primary passed it). */
  listening(): void {
    this.#options.send({ tsgi: 'listening' });
  }

  /** Counts a finished request; at `maxRequests`, asks the primary (once) for a replacement. */
  requestDone(): void {
    this.#served++;
    const max = this.#options.maxRequests;
    if (max > 0 && this.#served >= max && !this.#retiring) {
      this.#retiring = true;
      this.#options.send({ tsgi: 'retiring' });
    }
  }

  /** Handles a message from the primary; anything else is ignored. */
  receive(message: unknown): void {
    if (isWorkerMessage(message, 'stop')) {
      const why = this.#retiring ? `served ${this.#served} requests (--max-requests)` : 'told to stop by the primary';
      this.#options.stopper.stop(why);
    } else if (isWorkerMessage(message, 'stop-now')) {
      this.#options.stopper.stopNow('told to stop at once by the primary');
    }
  }
}
