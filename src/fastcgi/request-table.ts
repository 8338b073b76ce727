// Holds one connection's live requests by request id: the usual single one in a field, more in a Map.

/**
 * The live requests of one connection, by request id (FastCGI spec §3.3 "Managing Request IDs").
 * Front servers that do not multiplex (nginx, Apache, lighttpd) have at most one live request per
 * connection: it sits in a field, and only further ones (FCGI_MPXS_CONNS) go into a Map. A Map
 * that goes from one entry to none rebuilds its table: about 150 bytes allocated per request,
 * measured with `--trace-gc-nvp`. `T` excludes undefined and null: `get` answers undefined for "none".
 */
export class RequestTable<T extends {}> {
  #firstId = -1;
  #first: T | undefined;
  #more: Map<number, T> | undefined;

  /** Live requests. */
  get size(): number {
    return (this.#first === undefined ? 0 : 1) + (this.#more === undefined ? 0 : this.#more.size);
  }

  /** The request with this id, or undefined when none is live. */
  get(id: number): T | undefined {
    if (id === this.#firstId) return this.#first;
    return this.#more === undefined ? undefined : this.#more.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds or replaces the request with this id. */
  set(id: number, value: T): void {
    if (id === this.#firstId || (this.#first === undefined && this.#more?.has(id) !== true)) {
      this.#firstId = id;
      this.#first = value;
      return;
    }
    (this.#more ??= new Map()).set(id, value);
  }

  /** Removes the request with this id. @returns whether one was live. */
  delete(id: number): boolean {
    if (id === this.#firstId) {
      this.#firstId = -1;
      this.#first = undefined;
      return true;
    }
    return this.#more !== undefined && this.#more.delete(id);
  }

  /** Whether any live request passes `test` (no iterator is made for the usual single request). */
  some(test: (value: T) => boolean): boolean {
    if (this.#first !== undefined && test(this.#first)) return true;
    if (this.#more !== undefined) for (const value of this.#more.values()) if (test(value)) return true;
    return false;
  }

  /** Removes every request. @returns them, in no particular order. */
  takeAll(): T[] {
    const all = this.#more === undefined ? [] : [...this.#more.values()];
    if (this.#first !== undefined) all.push(this.#first);
    this.#firstId = -1;
    this.#first = undefined;
    this.#more = undefined;
    return all;
  }
}
