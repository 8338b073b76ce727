// Wires process signals (and a worker's orders from its primary) to the daemon's graceful and immediate stop.

/** Something that can stop gracefully within a deadline and at once. */
export interface Stoppable {
  close(graceMs: number): Promise<void>;
  destroy(): void;
}

/** Options for {@link stopOnSignals} and {@link createStopper}. */
export interface StopOptions {
  /**
   * Called with the exit status once every target has closed (0) or on a second signal (1). The
   * CLI passes `process.exit`: an app may keep the event loop alive for ever (a module-level
   * `setInterval`, a database pool), so waiting for it to empty is not enough. Default: set
   * `process.exitCode` and let the process end when nothing is left (so that tests calling this
   * in-process are not killed), except on a second signal, which exits at once.
   */
  exit?: (code: number) => void;
  /**
   * The signals {@link stopOnSignals} stops on. Default SIGTERM, SIGINT and SIGQUIT. `tsgi dev`
   * under `--watch` leaves SIGINT out: the terminal's Ctrl-C reaches it and its supervisor alike,
   * and the supervisor passes it on as SIGTERM.
   */
  signals?: readonly NodeJS.Signals[];
}

/** Stops a set of targets once: gracefully, or at once. */
export interface Stopper {
  /**
   * Starts the graceful stop, logging `why`: every target closes within the grace period (a
   * FastCgiServer: its requests, then the app's `close()` hook), then the process exits 0, also
   * when the hook failed or was given up on. Returns false (and does nothing) when a stop is
   * already under way.
   */
  stop(why: string): boolean;
  /**
   * Stops at once, logging `why`: destroys every target and exits 1. Hooks still running (the
   * app's `close()` of a graceful stop under way) are not waited for, and none is started.
   */
  stopNow(why: string): void;
}

/**
 * Makes the {@link Stopper} for `targets`.
 * @param graceMs - milliseconds running requests get to finish; default 30000.
 * @param options - what ends the process; see {@link StopOptions}.
 */
export function createStopper(targets: Stoppable[], log: (line: string) => void, graceMs = 30_000, options: StopOptions = {}): Stopper {
  const exit = options.exit;
  let stopping = false;
  return {
    stop(why) {
      if (stopping) return false;
      stopping = true;
      log(`tsgi: ${why}, stopping gracefully (up to ${graceMs} ms)\n`);
      void Promise.all(targets.map((target) => target.close(graceMs))).then(() => {
        if (exit !== undefined) exit(0);
        else process.exitCode = 0;
      });
      return true;
    },
    stopNow(why) {
      stopping = true;
      log(`tsgi: ${why}, stopping now\n`);
      for (const target of targets) target.destroy();
      if (exit !== undefined) exit(1);
      else process.exit(1);
    },
  };
}

/**
 * SIGTERM, SIGINT (and SIGQUIT): graceful stop within `graceMs` (as PHP-FPM's SIGQUIT and gunicorn's
 * SIGTERM); a second signal stops at once, even when the graceful stop began otherwise (a worker's
 * primary ordered it). Once every target has closed (after the grace deadline,
 * by destroying what was left), `options.exit(0)` is called.
 * @param targets - what to stop, or a {@link Stopper} already made for them (a worker shares its
 *   own with its primary's orders).
 * @param graceMs - milliseconds running requests get to finish; default 30000.
 * @param options - what ends the process; see {@link StopOptions}.
 * @returns a function that removes the signal handlers again.
 * @example stopOnSignals([server], log, 10_000, { exit: (code) => process.exit(code) });
 */
export function stopOnSignals(
  targets: Stoppable[] | Stopper,
  log: (line: string) => void,
  graceMs = 30_000,
  options: StopOptions = {},
): () => void {
  const stopper = Array.isArray(targets) ? createStopper(targets, log, graceMs, options) : targets;
  // Signals are counted, not stops: a worker told to stop by its primary and then sent SIGTERM by
  // systemd (KillMode=control-group signals every process) still stops gracefully.
  let received = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++received === 1) stopper.stop(signal);
    else stopper.stopNow(`${signal} again`);
  };
  const signals = options.signals ?? (['SIGTERM', 'SIGINT', 'SIGQUIT'] as const);
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
