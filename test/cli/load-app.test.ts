// Tests the loader's fast path: a plain TSGI function is taken as it is, without loading the adapters.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toApp, type AppType } from '../../src/adapters/detect.js';
import { isPlainTsgiApp } from '../../src/cli/load-app.js';

/** What toApp makes of `value`: itself, a wrapper, or an error. */
function viaToApp(value: unknown, type?: AppType): 'itself' | 'wrapped' | 'error' {
  try {
    return toApp(value, type) === value ? 'itself' : 'wrapped';
  } catch {
    return 'error';
  }
}

/** A function of `arity` parameters carrying `props`, as a module might export it. */
function fnWith(arity: number, props: Record<string, unknown>): unknown {
  const fns = [() => [], (_a: unknown) => [], (_a: unknown, _b: unknown) => [], (_a: unknown, _b: unknown, _c: unknown) => []];
  return Object.assign(fns[arity]!.bind(null), props);
}

describe('isPlainTsgiApp', () => {
  it.each([
    ['a TSGI app (environ, startResponse)', (_e: unknown, _s: unknown) => [], undefined, true],
    ['a wrapper (...args)', (...args: unknown[]) => args, undefined, true],
    ['an async generator function of 2', async function* (_e: unknown, _s: unknown) {}, undefined, true],
    ['any function with --type tsgi', (_request: unknown) => [], 'tsgi', true],
    ['a fetch handler (request)', (_request: unknown) => [], undefined, false],
    ['a (req, res, next) function', (_a: unknown, _b: unknown, _c: unknown) => [], undefined, false],
    ['a TSGI-shaped function with --type node', (_e: unknown, _s: unknown) => [], 'node', false],
    ['an Express-like app (use, handle)', fnWith(2, { use() {}, handle() {}, set() {} }), undefined, false],
    ['a function with fetch()', fnWith(2, { fetch() {} }), undefined, false],
    ['a thenable function', fnWith(0, { then() {} }), 'tsgi', false],
    ['an object', { fetch() {} }, undefined, false],
  ] as const)('%s -> %s', (_name, value, type, expected) => {
    expect(isPlainTsgiApp(value, type)).toBe(expected);
  });

  it('says yes only where toApp would return the export itself (docs/adapters.md "Which adapter")', () => {
    const marker = fc.constantFrom('then', 'fetch', 'use', 'handle', 'routing', 'ready', 'callback', 'listen', 'set', 'other');
    const props = fc.dictionary(marker, fc.constantFrom<unknown>(() => {}, [], 1, 'x', undefined, {}), { maxKeys: 4 });
    const shape = fc.oneof(
      fc.record({ arity: fc.integer({ min: 0, max: 3 }), props }).map(({ arity, props: p }) => fnWith(arity, p)),
      props.map((p) => ({ ...p })),
      fc.constantFrom<unknown>(null, undefined, 42, 'app'),
    );
    const type = fc.constantFrom<AppType | undefined>(undefined, 'tsgi', 'fetch', 'node');
    fc.assert(
      fc.property(shape, type, (value, forced) => {
        // The fast path may decline (then toApp decides), but when it accepts, toApp agrees.
        if (isPlainTsgiApp(value, forced)) expect(viaToApp(value, forced)).toBe('itself');
      }),
      { numRuns: 2000 },
    );
  });
});
