/**
 * Tier 1: the rate limiter's bounded table (src/limits/client-table.ts): least-recently-seen
 * order kept through touches, growth and reuse of dropped slots.
 */
import { describe, expect, it } from 'vitest';
import { ClientTable } from '../../../src/limits/client-table.ts';

/** Empties the table from the oldest end, returning the values in the order they went. */
function drain(table: ClientTable): number[] {
  const order: number[] = [];
  for (let value = table.oldestValue(); value !== undefined; value = table.oldestValue()) {
    order.push(value);
    table.dropOldest();
  }
  return order;
}

describe('ClientTable', () => {
  it('finds what it holds, and nothing else', () => {
    const table = new ClientTable(10);
    const slot = table.add('a', 7);
    expect(table.touch('a')).toBe(slot);
    expect(table.value(slot)).toBe(7);
    expect(table.touch('b')).toBe(-1);
    expect(table.size).toBe(1);
  });

  it('keeps least-recently-seen order: a touch moves an entry to the young end', () => {
    const table = new ClientTable(10);
    for (const [key, value] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      table.add(key, value);
    table.touch('a');
    table.touch('b');
    expect(drain(table)).toEqual([3, 1, 2]);
    expect(table.size).toBe(0);
  });

  it('drops the least recently seen entry when an add would pass the bound', () => {
    const table = new ClientTable(2);
    table.add('a', 1);
    table.add('b', 2);
    table.touch('a');
    table.add('c', 3);
    expect(table.size).toBe(2);
    expect(table.touch('b')).toBe(-1);
    expect(drain(table)).toEqual([1, 3]);
  });

  it('grows past its first capacity without losing values or order', () => {
    const table = new ClientTable(100, 2);
    for (let i = 0; i < 50; i++) table.add(`k${i}`, i);
    table.touch('k0');
    expect(table.value(table.touch('k49'))).toBe(49);
    expect(drain(table)).toEqual([...Array.from({ length: 48 }, (_, i) => i + 1), 0, 49]);
  });

  it('reuses a dropped slot for a new key, which then reads its own value', () => {
    const table = new ClientTable(3);
    table.add('a', 1);
    table.add('b', 2);
    table.dropOldest();
    const slot = table.add('c', 3);
    expect(table.value(slot)).toBe(3);
    table.setValue(slot, 4);
    expect(table.touch('a')).toBe(-1);
    expect(drain(table)).toEqual([2, 4]);
  });

  it('holds at most its bound however many keys pass, the oldest going first', () => {
    const table = new ClientTable(1000);
    for (let i = 0; i < 1_000_000; i++) if (table.touch(String(i)) < 0) table.add(String(i), i);
    expect(table.size).toBe(1000);
    expect(table.oldestValue()).toBe(999_000);
  });
});
