// Runs the daemon's worker processes from the primary's side (node:cluster): start, replace, reload, stop.

import cluster, { type Worker } from 'node:cluster';
import { TsgiError } from '../core/errors.js';
import type { Stoppable } from './lifecycle.js';
import { workerStdio, type WorkerSocket } from './primary-socket.js';
import { isWorkerMessage, type WorkerMessage } from './worker.js';

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Worker processes to keep serving (at least 1). */
  workers: number;
  /** Added to every worker's environment (the CLI passes `TSGI_WORKER_LISTEN=fd:N`, N the socket's number). */
  env: Record<string, string>;
  /**
   * The listening socket to hand every worker at a number of its own (primary-socket.ts); undefined
   * leaves the workers the primary's stdio (and fd 0, the socket spawn-fcgi passes) as they are.
   */
  socket?: WorkerSocket;
  /** Log line sink (newline included). */
  log: (line: string) => void;
  /**
   * The workers' `--grace-ms`: a worker told to stop (retired, reloaded) that has not exited this
   * long plus 5 s later is killed. Default 30000.
   */
  graceMs?: number;
}

/** How long a worker must have lived for its exit not to count as a crash loop, in ms. */
const QUICK_EXIT_MS = 10_000;
/** The longest wait before starting a worker again after crashes in a row, in ms. */
const MAX_RESPAWN_DELAY_MS = 10_000;
/** How long workers get past the grace period to exit before they are killed, in ms. */
const EXIT_MARGIN_MS = 5_000;

/**
 * The wait before starting a worker in place of one that exited unexpectedly: none after a worker
 * that lived a while; 100 ms after one that died young, doubling with each young death in a row,
 * up to 10 s. An app that crashes at once then costs a fork every 10 s, not a fork loop.
 * @param youngDeaths - unexpected exits in a row, each within 10 s of its worker's start.
 * @returns milliseconds.
 */
export function respawnDelayMs(youngDeaths: number): number {
  if (youngDeaths <= 0) return 0;
  return Math.min(MAX_RESPAWN_DELAY_MS, 100 * 2 ** Math.min(youngDeaths - 1, 20));
}

/** What a worker is doing, as the primary sees it. */
type State = 'starting' | 'ready' | 'retiring' | 'stopping';

interface Entry {
  worker: Worker;
  state: State;
  startedAt: number;
  /** Settles when the worker listens (resolve) or exits before that (reject). */
  ready: Promise<void>;
  settleReady: (error?: Error) => void;
  /** A retiring worker this one takes over from: told to stop once this one listens. */
  replaces: Entry | undefined;
  /** Started by startSet, which handles its failure to start. */
  inSet: boolean;
  /** Kills the worker if it has not exited in time once told to stop (see #order). */
  killTimer: NodeJS.Timeout | undefined;
  /**
   * The set it belongs to: each start of a set (the first, each reload) numbers a new one; a
   * respawn or a --max-requests replacement is of its predecessor's set.
   */
  set: number;
}

/**
 * A pool of worker processes serving one listening socket, as PHP-FPM's master and gunicorn's
 * arbiter keep theirs. Each worker runs the whole daemon (the CLI again, node:cluster's fork) and
 * accepts connections itself on the listening socket the primary holds for the pool's life
 * (primary-socket.ts) and passes to every worker as a descriptor: no connection passes through the
 * primary, and the socket stays open while no worker is up. The primary never loads the app.
 * - start: one worker first, the others once it listens, so an app that cannot load fails once.
 * - a worker that exits unexpectedly is replaced, after {@link respawnDelayMs} when it died young;
 * - a worker that served `--max-requests` asks to retire: its replacement starts, and once that one
 *   listens the old one finishes its requests and exits;
 * - reload (SIGHUP): a new set of workers starts (new app code, new tsgi), and once all of them
 *   listen the old ones stop gracefully; if one cannot start, the old ones stay; a reload asked for
 *   during a start or a reload runs once after it;
 * - close: every worker stops gracefully (its own `--grace-ms`);
 * - a worker told to stop (retired, reloaded, close) that has not exited 5 s after its grace period
 *   is killed.
 * @example
 * const pool = new WorkerPool({ workers: 4, env: { TSGI_WORKER_LISTEN: '127.0.0.1:9000' }, log });
 * process.on('SIGHUP', () => void pool.reload()); // from the start: one during it waits for it
 * if (await pool.start()) log('listening\n');
 */
export class WorkerPool implements Stoppable {
  readonly #options: WorkerPoolOptions;
  readonly #entries = new Map<Worker, Entry>();
  /** Pending respawns, with the set of the worker each replaces. */
  readonly #respawns = new Map<NodeJS.Timeout, number>();
  /** The number of the last set started (see Entry.set). */
  #lastSet = 0;
  #youngDeaths = 0;
  #stopping = false;
  /** A start or a reload is under way: a reload asked for meanwhile waits for it. */
  #busy = false;
  /** A reload was asked for while busy. */
  #reloadAgain = false;
  #allGone: (() => void) | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** Process ids of the workers now running, in start order. */
  get pids(): number[] {
    return [...this.#entries.keys()].map((worker) => worker.process.pid ?? 0);
  }

  /**
   * Starts the workers.
   * @returns true once every worker listens; false when {@link close} or {@link destroy} came first
   *   (SIGTERM while the app loads): the workers are stopping, as that stop ordered.
   * @throws {TsgiError} code `TSGI_WORKER_START` when a worker exits before it listens (the app
   *   failed to load, the address could not be bound: the worker logged why); no worker is left.
   */
  async start(): Promise<boolean> {
    // Workers listen on their copy of the socket by descriptor, outside node:cluster. For a server
    // the app itself opens in a worker: each worker accepts its connections, where the default
    // (round-robin) would have the primary accept them and pass each on over IPC.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const socket = this.#options.socket;
    cluster.setupPrimary(socket === undefined ? {} : { stdio: workerStdio(socket) });
    cluster.on('message', (worker, message) => this.#onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    this.#busy = true;
    try {
      await this.#startSet();
      this.#idle();
      return true;
    } catch (error) {
      if (this.#stopping) return false;
      this.destroy();
      throw error;
    }
  }

  /**
   * Graceful reload (SIGHUP): starts a new set of workers and, once all of them listen, stops the old
   * ones gracefully. Asked for while the workers start or another reload runs, it runs once that is
   * done (once however often it was asked for); ignored while stopping. Logs what happened.
   */
  async reload(): Promise<void> {
    if (this.#stopping) return;
    if (this.#busy) {
      // The workers starting now may have loaded the code from before this ask (or some of them:
      // a set starts one first): the new code is loaded by a set started after them.
      if (!this.#reloadAgain) this.#options.log('tsgi: reload asked for while workers start; it runs once they listen\n');
      this.#reloadAgain = true;
      return;
    }
    this.#busy = true;
    this.#options.log(`tsgi: reloading: starting ${this.#options.workers} new worker(s)\n`);
    try {
      const started = await this.#startSet();
      // Every other worker is old: the ones serving when the reload began, and the ones started
      // since in place of them (a respawn, a --max-requests replacement), pending respawns too.
      const serving = started[0]!.set;
      this.#stopSets((set) => set !== serving);
      this.#options.log(
        `tsgi: reloaded: workers ${started.map(pidOf).join(', ')} listen; the old ones finish their requests\n`,
      );
    } catch (error) {
      // A stop under way ended the new workers; there is nothing to keep.
      if (this.#stopping) return;
      this.#options.log(`${error instanceof Error ? error.message : String(error)}; the running workers stay\n`);
    } finally {
      this.#idle();
    }
  }

  /** Ends a start or a reload; runs the reload asked for meanwhile, after the caller's own lines. */
  #idle(): void {
    if (!this.#reloadAgain || this.#stopping) {
      this.#busy = false;
      return;
    }
    setImmediate(() => {
      this.#busy = false;
      this.#reloadAgain = false;
      void this.reload();
    });
  }

  /** Graceful stop: every worker finishes its requests within its grace period, then exits. */
  close(graceMs: number): Promise<void> {
    this.#beginStop();
    const gone = this.#whenAllGone();
    for (const entry of this.#entries.values()) this.#order(entry, 'stop', graceMs);
    return gone;
  }

  /** Immediate stop: kills every worker. */
  destroy(): void {
    this.#beginStop();
    for (const entry of this.#entries.values()) entry.worker.process.kill('SIGKILL');
  }

  #beginStop(): void {
    this.#stopping = true;
    for (const timer of this.#respawns.keys()) clearTimeout(timer);
    this.#respawns.clear();
  }

  /** Tells the workers of the sets `which` picks to stop, and cancels their pending respawns. */
  #stopSets(which: (set: number) => boolean): void {
    for (const entry of this.#entries.values()) if (which(entry.set) && entry.state !== 'stopping') this.#order(entry, 'stop');
    for (const [timer, set] of this.#respawns) {
      if (!which(set)) continue;
      clearTimeout(timer);
      this.#respawns.delete(timer);
    }
  }

  #whenAllGone(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#allGone = resolve));
  }

  /**
   * Starts `workers` workers, one first and the rest once it listens.
   * @returns their entries, once all listen.
   * @throws {TsgiError} `TSGI_WORKER_START` when one exits first; the others of the set (and the
   *   respawns of those that listened, then died) are stopped.
   */
  async #startSet(): Promise<Entry[]> {
    const number = ++this.#lastSet;
    const set: Entry[] = [];
    try {
      set.push(this.#fork(number, undefined, true));
      await set[0]!.ready;
      for (let i = 1; i < this.#options.workers; i++) set.push(this.#fork(number, undefined, true));
      await Promise.all(set.map((entry) => entry.ready));
      return set;
    } catch (error) {
      this.#stopSets((other) => other === number);
      throw error;
    }
  }

  #fork(set: number, replaces: Entry | undefined, inSet = false): Entry {
    const worker = cluster.fork(this.#options.env);
    let settleReady!: (error?: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      settleReady = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Only startSet awaits this; a replacement that exits first is handled by #onExit.
    ready.catch(() => {});
    const entry: Entry = {
      worker,
      state: 'starting',
      startedAt: Date.now(),
      ready,
      settleReady,
      replaces,
      inSet,
      set,
      killTimer: undefined,
    };
    // A failed IPC send (the worker just died) is reported by its 'exit' too.
    worker.on('error', () => {});
    this.#entries.set(worker, entry);
    return entry;
  }

  #onMessage(worker: Worker, message: unknown): void {
    const entry = this.#entries.get(worker);
    if (entry === undefined) return;
    if (isWorkerMessage(message, 'listening') && entry.state === 'starting') {
      entry.state = 'ready';
      entry.settleReady();
      const old = entry.replaces;
      if (old !== undefined && this.#entries.has(old.worker)) this.#order(old, 'stop');
      entry.replaces = undefined;
    } else if (isWorkerMessage(message, 'retiring') && entry.state === 'ready' && !this.#stopping) {
      entry.state = 'retiring';
      this.#fork(entry.set, entry);
    }
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const entry = this.#entries.get(worker);
    if (entry === undefined) return;
    this.#entries.delete(worker);
    clearTimeout(entry.killTimer);
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    // Fails a start waiting for this worker, also when it was told to stop before it listened (a
    // stop during a reload); a no-op once it listened.
    entry.settleReady(new TsgiError('TSGI_WORKER_START', `tsgi: worker ${pidOf(entry)} ${how} before it listened (its error is above)`));
    if (this.#entries.size === 0) this.#allGone?.();
    if (this.#stopping || entry.state === 'stopping') return;
    // Starting as part of a set: startSet decides (the first start fails, a reload keeps the old set).
    if (entry.state === 'starting' && entry.inSet) return;
    const young = Date.now() - entry.startedAt < QUICK_EXIT_MS;
    this.#youngDeaths = young ? this.#youngDeaths + 1 : 0;
    const delay = respawnDelayMs(this.#youngDeaths);
    // A retiring worker's replacement is already on its way; a starting replacement is redone.
    if (entry.state === 'retiring') {
      this.#options.log(`tsgi: worker ${pidOf(entry)} ${how} while retiring\n`);
      return;
    }
    // A replacement that cannot start (the app on disk is broken now) is retried for as long as it
    // takes, while the worker it replaces serves on: say which case this is.
    const failed = entry.state === 'starting' ? ' before it listened' : '';
    const old = entry.replaces;
    const serving = old !== undefined && this.#entries.has(old.worker) ? `; worker ${pidOf(old)} serves on` : '';
    this.#options.log(`tsgi: worker ${pidOf(entry)} ${how}${failed}${serving}; starting another${delay > 0 ? ` in ${delay} ms` : ''}\n`);
    const timer = setTimeout(() => {
      this.#respawns.delete(timer);
      if (!this.#stopping) this.#fork(entry.set, entry.replaces);
    }, delay);
    this.#respawns.set(timer, entry.set);
  }

  #order(entry: Entry, order: WorkerMessage['tsgi'] & ('stop' | 'stop-now'), graceMs = this.#options.graceMs ?? 30_000): void {
    entry.state = 'stopping';
    const worker = entry.worker;
    if (worker.isConnected()) worker.send({ tsgi: order } satisfies WorkerMessage, () => {});
    else worker.process.kill('SIGTERM');
    // A worker ends its own graceful stop at its grace period; one still there later cannot (its
    // event loop is stuck in the app) and would hold a CPU for good, long after its replacement took
    // over: killed, as PHP-FPM's process_control_timeout and gunicorn's graceful timeout do.
    if (entry.killTimer !== undefined) return;
    const waitMs = graceMs + EXIT_MARGIN_MS;
    entry.killTimer = setTimeout(() => {
      this.#options.log(`tsgi: worker ${pidOf(entry)} has not exited ${waitMs} ms after it was told to stop; killing it\n`);
      worker.process.kill('SIGKILL');
    }, waitMs);
  }
}

function pidOf(entry: Entry): number {
  return entry.worker.process.pid ?? 0;
}
