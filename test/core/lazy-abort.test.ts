// Tests the lazy abort state behind tsgi.signal: the first reason wins, the signal is made on demand.

import { describe, expect, it } from 'vitest';
import { LazyAbort } from '../../src/core/lazy-abort.js';

describe('LazyAbort', () => {
  it('fires a signal made before the abort, with the first reason only', () => {
    const abort = new LazyAbort<Error>();
    const signal = abort.signal();
    expect([abort.aborted, signal.aborted]).toEqual([false, false]);
    const first = new Error('first');
    expect(abort.abort(first)).toBe(true);
    expect(abort.abort(new Error('second'))).toBe(false);
    expect([abort.aborted, abort.reason, signal.aborted, signal.reason]).toEqual([true, first, true, first]);
    expect(abort.signal()).toBe(signal);
  });

  it('makes a signal asked for after the abort already aborted', () => {
    const abort = new LazyAbort<string>();
    abort.abort('gone');
    const signal = abort.signal();
    expect([signal.aborted, signal.reason]).toEqual([true, 'gone']);
  });
});
