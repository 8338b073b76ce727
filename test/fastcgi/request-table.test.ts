// Tests the live-request table of a connection (FastCGI spec §3.3 "Managing Request IDs").

import { describe, expect, it } from 'vitest';
import { RequestTable } from '../../src/fastcgi/request-table.js';

describe('RequestTable', () => {
  it('holds one request: get, has, size, delete', () => {
    const table = new RequestTable<string>();
    expect(table.size).toBe(0);
    expect(table.get(1)).toBeUndefined();
    table.set(1, 'one');
    expect(table.size).toBe(1);
    expect(table.get(1)).toBe('one');
    expect(table.has(1)).toBe(true);
    expect(table.has(2)).toBe(false);
    expect(table.delete(2)).toBe(false);
    expect(table.delete(1)).toBe(true);
    expect(table.delete(1)).toBe(false);
    expect(table.size).toBe(0);
    expect(table.get(1)).toBeUndefined();
  });

  it('holds many (multiplexing), whichever is deleted first, and reuses ids', () => {
    const table = new RequestTable<string>();
    for (const id of [1, 2, 3, 65535, 0]) table.set(id, `r${id}`);
    expect(table.size).toBe(5);
    for (const id of [1, 2, 3, 65535, 0]) expect(table.get(id)).toBe(`r${id}`);
    expect(table.delete(1)).toBe(true); // the one kept outside the Map
    expect(table.size).toBe(4);
    expect(table.get(1)).toBeUndefined();
    expect(table.get(2)).toBe('r2');
    table.set(2, 'r2 again'); // replaces, does not add
    expect(table.size).toBe(4);
    expect(table.get(2)).toBe('r2 again');
    table.set(1, 'r1 new');
    expect(table.size).toBe(5);
    expect(table.get(1)).toBe('r1 new');
    expect(table.takeAll().sort()).toEqual(['r0', 'r1 new', 'r2 again', 'r3', 'r65535']);
    expect(table.size).toBe(0);
    for (const id of [0, 1, 2, 3, 65535]) expect(table.has(id)).toBe(false);
  });

  it('some() sees every live request', () => {
    const table = new RequestTable<{ receiving: boolean }>();
    const receiving = (request: { receiving: boolean }): boolean => request.receiving;
    expect(table.some(receiving)).toBe(false);
    table.set(1, { receiving: false });
    expect(table.some(receiving)).toBe(false);
    table.set(2, { receiving: true });
    expect(table.some(receiving)).toBe(true);
    table.delete(2);
    expect(table.some(receiving)).toBe(false);
    table.delete(1);
    table.set(3, { receiving: true });
    expect(table.some(receiving)).toBe(true);
  });
});
