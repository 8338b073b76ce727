// Shared by the validator's checks on both sides: how a violation is reported, and the value tests its rules use.
import { TsgiError } from '../core/errors.js';

/** One broken rule. */
export interface Violation {
  /** Stable id, e.g. `'environ.script-name-slash'` (listed at the top of src/middleware/validator.ts). */
  rule: string;
  /** What is wrong and what to do instead. */
  message: string;
}

/** Thrown for a violation when no `onViolation` is given. `code` is `TSGI_VALIDATION`. */
export class ValidationError extends TsgiError {
  /** The rule id, as in {@link Violation.rule}. */
  readonly rule: string;
  constructor(violation: Violation) {
    super('TSGI_VALIDATION', `tsgi: ${violation.message} [${violation.rule}]`);
    this.name = 'ValidationError';
    this.rule = violation.rule;
  }
}

/** Throws or reports the violations of one request, as `onViolation` decides. */
export class Reporter {
  readonly #onViolation: ((v: Violation) => void) | undefined;
  readonly #env: Record<string, unknown>;

  constructor(onViolation: ((v: Violation) => void) | undefined, env: Record<string, unknown>) {
    this.#onViolation = onViolation;
    this.#env = env;
  }

  fail(rule: string, message: string): void {
    if (this.#onViolation) this.#onViolation({ rule, message });
    else throw new ValidationError({ rule, message });
  }

  /** For violations found when nobody can be thrown to: onViolation, else a line on tsgi.errors. */
  late(rule: string, message: string): void {
    if (this.#onViolation) return this.#onViolation({ rule, message });
    const errors = this.#env['tsgi.errors'] as { write?: unknown } | undefined;
    if (typeof errors?.write === 'function') errors.write(`tsgi: ${message} [${rule}]\n`);
  }
}

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const DIGITS = /^\d+$/;

export function hasMethod(value: unknown, key: PropertyKey): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<PropertyKey, unknown>)[key] === 'function';
}

export function isSignal(value: unknown): value is AbortSignal {
  return hasMethod(value, 'addEventListener') && typeof (value as { aborted?: unknown }).aborted === 'boolean';
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value !== 'object' && typeof value !== 'function') return `${typeof value} ${String(value)}`;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return Array.isArray(value) ? `an array of length ${value.length}` : `a${/^[AEIOU]/.test(name ?? '') ? 'n' : ''} ${name ?? 'object'}`;
}
