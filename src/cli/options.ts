// Parses the command-line values every subcommand shares (`--type`/TSGI_TYPE, positive integers).
//
// Kept apart from the subcommands so the CGI path can use them without loading the daemon's code.

import type { AppType } from '../adapters/detect.js';
import { TsgiError } from '../core/errors.js';

/**
 * Reads `--type` (or `TSGI_TYPE` under CGI).
 * @param value - the raw value; `undefined` or `''` means "detect".
 * @param option - how the message names the setting, e.g. `'--type'` or `'TSGI_TYPE'`.
 * @returns `'tsgi'`, `'fetch'`, `'node'`, or `undefined` for detection.
 * @throws {TsgiError} code `TSGI_USAGE` for any other value.
 */
export function appType(value: string | undefined, option: string): AppType | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'tsgi' || value === 'fetch' || value === 'node') return value;
  throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${option} ${value}; use tsgi, fetch or node`);
}

/**
 * Reads a whole number greater than 0.
 * @param text - the raw option value; `undefined` when the option was not given.
 * @param option - the option's name for the message, e.g. `'--max-conns'`.
 * @param fallback - returned when `text` is `undefined`.
 * @throws {TsgiError} code `TSGI_USAGE` when `text` is not a positive integer.
 */
export function positiveInt(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${option} ${text}`);
  return value;
}
