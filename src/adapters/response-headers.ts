// Filters the response header fields a framework produced down to what a TSGI app may send (app side).

import { HOP_BY_HOP, isHopByHopIn } from '../core/headers.js';
import type { HeaderList } from '../core/types.js';

/**
 * Drops connection-specific fields from a framework's response headers, which `startResponse` would
 * reject (docs/spec.md "headers"): the hop-by-hop fields of RFC 9110 §7.6.1, `Proxy-Connection`, and
 * every field that `Connection` names (RFC 9110 §7.6.1: "the intermediary MUST remove ... each
 * field-name listed in the Connection header"). The front server frames the body and manages the
 * connection itself. Order and repeats (each Set-Cookie) are kept.
 *
 * `Upgrade` is kept in a 426 response, even when `Connection` names it: there it says which
 * protocols the resource requires, and the server MUST send it (RFC 9110 §15.5.22, §7.8).
 * @param headers - `[name, value]` pairs in any letter case.
 * @param status - the response's status code; default 0 (unknown: every hop-by-hop field dropped).
 * @returns a new list without those fields.
 */
export function endToEndHeaders(headers: Iterable<readonly [string, string]>, status = 0): HeaderList {
  const pairs = Array.isArray(headers) ? (headers as Array<readonly [string, string]>) : [...headers];
  let named: Set<string> | undefined;
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== 'connection') continue;
    named ??= new Set();
    for (const token of value.split(',')) named.add(token.trim().toLowerCase());
  }
  const kept: HeaderList = [];
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    // A 426's Upgrade is the response's own, even when Connection names it.
    const upgradeRequired = lower === 'upgrade' && !isHopByHopIn(lower, status);
    if (!upgradeRequired && (HOP_BY_HOP.has(lower) || lower === 'proxy-connection' || named?.has(lower) === true)) continue;
    kept.push([name, value]);
  }
  return kept;
}
