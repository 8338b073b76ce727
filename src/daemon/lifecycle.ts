// Wires process signals to the daemon's graceful and immediate stop.

/** Something that can stop gracefully within a deadline and at once. */
export interface Stoppable {
  close(graceMs: number): Promise<void>;
  destroy(): void;
}

/**
 * SIGTERM, SIGINT (and SIGQUIT): graceful stop within `graceMs` (as PHP-FPM's SIGQUIT and gunicorn's
 * SIGTERM); a second signal stops at once. The process then exits by itself when nothing is left.
 * @param graceMs - milliseconds running requests get to finish; default 30000.
 */
export function stopOnSignals(targets: Stoppable[], log: (line: string) => void, graceMs = 30_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`tsgi: ${signal} again, stopping now\n`);
      for (const target of targets) target.destroy();
      process.exit(1);
    }
    stopping = true;
    log(`tsgi: ${signal}, stopping gracefully (up to ${graceMs} ms)\n`);
    void Promise.all(targets.map((target) => target.close(graceMs))).then(() => {
      process.exitCode = 0;
    });
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, onSignal);
}
