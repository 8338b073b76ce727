// Tells a thenable from a plain value, the way `await` and Promise resolution do.

/**
 * Whether `value` is a thenable: an object or function with a callable `then` (Promises/A+ §1.2,
 * ECMAScript's promise resolution). `await` adopts such a value's state; anything else is a plain
 * value. Reads `then` once.
 * @param value - anything.
 * @returns true for a promise or any other thenable.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
