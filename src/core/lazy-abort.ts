// Keeps whether a request was aborted, and makes `tsgi.signal` only if the app reads it.

/**
 * A request's abort state for a transport: `abort()` records the first reason, and `signal()`
 * makes the AbortSignal the app sees as `tsgi.signal` on first use, already aborted when the
 * request was. Most requests never abort and most apps never look, and an AbortController costs
 * an allocation per request in a daemon and a module of Node's at every CGI start-up.
 */
export class LazyAbort<Reason = unknown> {
  #controller: AbortController | undefined;
  #reason: Reason | undefined;

  /** The first abort's reason, or undefined while the request runs. */
  get reason(): Reason | undefined {
    return this.#reason;
  }

  /** True once `abort()` was called. */
  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  /**
   * Records `reason` and fires the signal if it was made; later calls change nothing.
   * @param reason - what ended the request (defined: undefined would read as "not aborted").
   * @returns true when this call aborted the request, false when it already was.
   */
  abort(reason: Reason): boolean {
    if (this.#reason !== undefined) return false;
    this.#reason = reason;
    this.#controller?.abort(reason);
    return true;
  }

  /** The request's AbortSignal, made on the first call (`tsgi.signal`'s lazy getter calls it once). */
  signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
}
