// Reads a subcommand's command line: node:util's parseArgs, with usage errors worded for a person.
//
// Loaded only by the daemon and dev subcommands (not by a CGI request, which reads no options).

import { parseArgs } from 'node:util';
import { TsgiError } from '../core/errors.js';

/** One option as `parseArgs` takes it: a string value, or a flag. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
}

/** What {@link parseCommandArgs} gives back: each option's value (absent when not given) and the positionals. */
export interface CommandArgs<T extends Record<string, OptionSpec>> {
  values: { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };
  positionals: string[];
}

/**
 * Parses `args` against `options`, positionals allowed, the last of a repeated option winning.
 * @param command - the subcommand, for messages (`'fastcgi'`, `'dev'`).
 * @returns the values and positionals.
 * @throws {TsgiError} code `TSGI_USAGE` for an unknown option, a value option given no value
 *   (`--listen` last, or followed by another option), or a flag given one (`--watch=1`), naming the
 *   option and pointing at `tsgi --help`.
 * @example
 * parseCommandArgs('dev', ['app.mjs', '--port', '8080'], { port: { type: 'string' } });
 * // → { values: { port: '8080' }, positionals: ['app.mjs'] }
 */
export function parseCommandArgs<T extends Record<string, OptionSpec>>(command: string, args: string[], options: T): CommandArgs<T> {
  const usage = (problem: string): TsgiError => new TsgiError('TSGI_USAGE', `tsgi ${command}: ${problem}; see tsgi --help`);
  // Lenient first, to word each problem ourselves from the tokens; node:util's own messages name a
  // Node API ("place it at the end of the command after '--'"), not what the user typed wrong.
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (spec === undefined) throw usage(`unknown option ${token.rawName}`);
    if (spec.type === 'string' && token.value === undefined) throw usage(`${token.rawName} needs a value`);
    if (spec.type === 'string' && token.inlineValue === false && token.value?.startsWith('-') === true) {
      // `--listen --http ...`: a forgotten value; `--listen=-x` says it is one.
      throw usage(`${token.rawName} needs a value (write ${token.rawName}=${token.value} if that is the value)`);
    }
    if (spec.type === 'boolean' && token.inlineValue === true) throw usage(`${token.rawName} takes no value`);
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as CommandArgs<T>['values'], positionals };
  } catch (error) {
    // Anything the checks above let through, in node:util's words.
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS_')) throw usage((error as Error).message);
    throw error;
  }
}

/**
 * Reads a TCP port number.
 * @param text - the raw option value.
 * @param option - the option's name for the message, e.g. `'--port'`.
 * @returns an integer from 0 (any free port) to 65535.
 * @throws {TsgiError} code `TSGI_USAGE` for anything else.
 */
export function portNumber(text: string, option: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new TsgiError('TSGI_USAGE', `tsgi: invalid ${option} ${text}; use a port from 0 to 65535`);
  return port;
}
