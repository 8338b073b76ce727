// Words for log lines about a request and what went wrong, from values an app may have made hostile.

import type { Environ } from './types.js';

/**
 * `METHOD /script/path` for a log line. Never throws, even when the app replaced those environ
 * values with ones a string cannot hold (a Symbol, an object whose toString throws).
 * @returns e.g. `"GET /app/users"`, or a placeholder when the values cannot be printed.
 */
export function requestLine(environ: Environ): string {
  try {
    return `${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}${environ.PATH_INFO}`;
  } catch {
    return '(a request whose environ cannot be printed)';
  }
}

/**
 * An error's stack (or its text) for a log line. Never throws, whatever was thrown: an object
 * without a prototype, an Error whose `stack` getter throws, a Proxy.
 * @returns the stack, `String(error)`, or a placeholder naming what kind of value it was.
 */
export function describeError(error: unknown): string {
  try {
    return error instanceof Error ? (error.stack ?? String(error)) : String(error);
  } catch {
    try {
      return `a thrown ${Object.prototype.toString.call(error)} that cannot be printed`;
    } catch {
      return 'a thrown value that cannot be printed';
    }
  }
}

/** What kind of value an app gave where another was expected, for a message: a class name or a type. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/**
 * Whether a line of an Error's `stack` is a call frame (V8's `    at …`) outside Node's own code
 * (`node:internal/…`, `(node:…)`): the frames worth showing someone looking for their bug.
 * @param line - one line of `error.stack`.
 */
export function isOutsideNode(line: string): boolean {
  return line.startsWith('    at ') && !line.includes('node:internal/') && !line.includes('(node:');
}
