// Tests the subcommands' option parsing: values, and usage errors that name what was typed.

import { describe, expect, it } from 'vitest';
import { parseCommandArgs, portNumber } from '../../src/cli/args.js';

const OPTIONS = { listen: { type: 'string' }, watch: { type: 'boolean' }, port: { type: 'string', short: 'p' } } as const;

describe('parseCommandArgs', () => {
  it('returns the values given, the last of a repeated option, and the positionals', () => {
    const { values, positionals } = parseCommandArgs('fastcgi', ['app.mjs', '--listen', 'a:1', '--watch', '--listen=b:2', '-p', '80'], OPTIONS);
    expect(values).toEqual({ listen: 'b:2', watch: true, port: '80' });
    expect(positionals).toEqual(['app.mjs']);
  });

  it('takes a value that starts with "-" when written --option=value, and anything after "--" as a positional', () => {
    const { values, positionals } = parseCommandArgs('fastcgi', ['--listen=-x', '--', '--watch'], OPTIONS);
    expect(values).toEqual({ listen: '-x' });
    expect(positionals).toEqual(['--watch']);
  });

  it.each([
    [['--bogus'], 'tsgi fastcgi: unknown option --bogus; see tsgi --help'],
    [['-z'], 'tsgi fastcgi: unknown option -z; see tsgi --help'],
    [['app.mjs', '--listen'], 'tsgi fastcgi: --listen needs a value; see tsgi --help'],
    [['--listen', '--watch'], 'tsgi fastcgi: --listen needs a value (write --listen=--watch if that is the value); see tsgi --help'],
    [['--watch=yes'], 'tsgi fastcgi: --watch takes no value; see tsgi --help'],
  ])('refuses %j with a TSGI_USAGE error naming the option', (args, message) => {
    expect(() => parseCommandArgs('fastcgi', args, OPTIONS)).toThrow(expect.objectContaining({ code: 'TSGI_USAGE', message }) as Error);
  });
});

describe('portNumber', () => {
  it.each([['0', 0], ['8000', 8000], ['65535', 65535]])('reads %s', (text, port) => {
    expect(portNumber(text, '--port')).toBe(port);
  });

  it.each(['65536', '-1', 'x', '', '80.5', '0x50', ' 80'])('refuses %j', (text) => {
    expect(() => portNumber(text, '--port')).toThrow(expect.objectContaining({ code: 'TSGI_USAGE', message: `tsgi: invalid --port ${text}; use a port from 0 to 65535` }) as Error);
  });
});
