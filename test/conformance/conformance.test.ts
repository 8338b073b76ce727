// Runs the one conformance table through every in-tree host (STYLE habit 13; like Plack::Test::Suite).

import { describe, expect, it } from 'vitest';
import { cases } from './cases.js';
import { hosts } from './hosts.js';

describe.each(hosts)('$name', (host) => {
  it.each(cases)('$name', async ({ app, request, expect: want }) => {
    const res = await host.run(app, request);
    expect(res.status).toBe(want.status);
    if (want.reason !== undefined) expect(res.reason).toBe(want.reason);
    for (const [name, values] of Object.entries(want.headers ?? {})) {
      expect(res.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)).toEqual(values);
    }
    if (typeof want.body === 'function') expect(want.body(res.body)).toBe(true);
    else if (want.body !== undefined) expect(res.body.equals(Buffer.from(want.body))).toBe(true);
    if (want.absent !== undefined) {
      expect(JSON.stringify(res.headers) + res.body.toString('latin1')).not.toContain(want.absent);
    }
    // A cut-off response must never look complete; a normal one must.
    if (want.cutOff === true && host.name !== 'CGI runner') expect(res.complete).toBe(false);
    if (want.cutOff !== true) expect(res.complete).toBe(true);
  });
});
