/**
 * Tier 1: CIDR lists (src/limits/cidr.ts): what parses, what is refused and how the error names
 * the entry, and what the per-request matcher says for each way an address can be written.
 */
import { describe, expect, it } from 'vitest';
import { emptyCidrSet, parseCidrList } from '../../../src/limits/cidr.ts';
import type { CidrSet } from '../../../src/limits/cidr.ts';

function set(list: string): CidrSet {
  const result = parseCidrList(list);
  if (!result.ok) throw new Error(`${result.entry} ${result.reason}`);
  return result.set;
}

describe('parseCidrList', () => {
  it('reads IPv4 and IPv6 ranges separated by commas, spaces or newlines, skipping empty entries', () => {
    const ranges = set(' 10.0.0.0/8,2001:db8::/32\n  192.168.1.0/24 ,, \t');
    expect(ranges.entries).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.168.1.0/24']);
    expect(ranges.size).toBe(3);
  });

  it('makes an empty list (or only separators) a set that contains nobody', () => {
    for (const list of ['', ' , ']) {
      const empty = set(list);
      expect(empty.size).toBe(0);
      expect(empty.has('10.0.0.1')).toBe(false);
    }
    expect(emptyCidrSet.has('::1')).toBe(false);
  });

  it('takes a bare address as a /32 or /128: the neighbour is outside', () => {
    const ranges = set('192.0.2.7, 2001:db8::7');
    expect(ranges.has('192.0.2.7')).toBe(true);
    expect(ranges.has('192.0.2.8')).toBe(false);
    expect(ranges.has('2001:db8::7')).toBe(true);
    expect(ranges.has('2001:db8::8')).toBe(false);
  });

  it('accepts brackets around an IPv6 address or range, as in a URL', () => {
    const ranges = set('[::1], [2001:db8::]/48');
    expect(ranges.has('::1')).toBe(true);
    expect(ranges.has('2001:db8:0:ffff::1')).toBe(true);
    expect(ranges.has('2001:db8:1::1')).toBe(false);
  });

  it('accepts a zone on an IPv6 range and ignores it when matching', () => {
    const ranges = set('fe80::%eth0/10');
    expect(ranges.has('fe80::1')).toBe(true);
    expect(ranges.has('fe80::1%lo')).toBe(true);
  });

  it('turns an IPv4-mapped IPv6 range into the IPv4 range', () => {
    const ranges = set('::ffff:10.0.0.0/104');
    expect(ranges.has('10.200.0.1')).toBe(true);
    expect(ranges.has('::ffff:10.200.0.1')).toBe(true);
    expect(ranges.has('11.0.0.1')).toBe(false);
  });

  const refused: [string, string, RegExp][] = [
    ['10.0.0.0/8, 300.1.2.3', '300.1.2.3', /not an IPv4 or IPv6 address/],
    ['10.0.0.0/8,example.com', 'example.com', /not an IPv4 or IPv6 address/],
    ['1.2.3', '1.2.3', /not an IPv4 or IPv6 address/],
    ['1.2.3.4.5', '1.2.3.4.5', /not an IPv4 or IPv6 address/],
    // inet_aton reads 010 as octal 8: an ambiguous address is no address (CVE-2021-29921).
    ['010.0.0.0/8', '010.0.0.0/8', /not an IPv4 or IPv6 address/],
    ['1::2::3', '1::2::3', /not an IPv4 or IPv6 address/],
    ['1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8:9', /not an IPv4 or IPv6 address/],
    ['12345::1', '12345::1', /not an IPv4 or IPv6 address/],
    ['[1.2.3.4]', '[1.2.3.4]', /not an IPv4 or IPv6 address/],
    ['[::1', '[::1', /not an IPv4 or IPv6 address/],
    ['fe80::1%', 'fe80::1%', /not an IPv4 or IPv6 address/],
    ['10.0.0.0/33', '10.0.0.0/33', /prefix length from 0 to 32/],
    ['2001:db8::/129', '2001:db8::/129', /prefix length from 0 to 128/],
    ['10.0.0.0/', '10.0.0.0/', /prefix length/],
    ['10.0.0.0/08', '10.0.0.0/08', /prefix length/],
    ['10.0.0.0/-1', '10.0.0.0/-1', /prefix length/],
    ['10.0.0.1/8', '10.0.0.1/8', /host bits set \(did you mean 10\.0\.0\.0\/8, or a \/32\?\)/],
    ['2001:db8::1/32', '2001:db8::1/32', /host bits set/],
    ['::ffff:0:0/95', '::ffff:0:0/95', /write IPv4 ranges as IPv4/],
  ];
  it.each(refused)('refuses %j, naming the entry %j', (list, entry, reason) => {
    const result = parseCidrList(list);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.entry).toBe(entry);
    expect(result.reason).toMatch(reason);
  });

  it('shows the list as written in the status page (toString, toJSON)', () => {
    const ranges = set('10.0.0.0/8 , ::1');
    expect(String(ranges)).toBe('10.0.0.0/8,::1');
    expect(JSON.stringify({ ALLOW_CIDRS: ranges })).toBe('{"ALLOW_CIDRS":["10.0.0.0/8","::1"]}');
  });

  it('knows when a list covers every address (a /0 of either family, or the whole mapped block)', () => {
    expect(set('10.0.0.0/8, 2001:db8::/32').coversEverything).toBe(false);
    expect(set('10.0.0.0/8, 0.0.0.0/0').coversEverything).toBe(true);
    expect(set('::/0').coversEverything).toBe(true);
    expect(set('::ffff:0:0/96').coversEverything).toBe(true);
  });
});

describe('CidrSet.has', () => {
  const ranges = set('10.0.0.0/8, 172.16.0.0/12, 192.0.2.128/25, 2001:db8:abcd::/48, ::1');

  it.each([
    ['10.0.0.0', true],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['9.255.255.255', false],
    ['172.31.255.255', true],
    ['172.32.0.0', false],
    ['192.0.2.128', true],
    ['192.0.2.127', false],
    ['255.255.255.255', false],
    ['0.0.0.0', false],
  ])('IPv4 %s inside: %s', (address, inside) => {
    expect(ranges.has(address)).toBe(inside);
  });

  it.each([
    ['2001:db8:abcd::', true],
    ['2001:db8:abcd:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:DB8:ABCD:0:0:0:0:1', true],
    ['2001:0db8:abcd:0000::1', true],
    ['2001:db8:abce::', false],
    ['2001:db8:abcc:ffff::', false],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::2', false],
    ['::', false],
  ])('IPv6 %s inside: %s', (address, inside) => {
    expect(ranges.has(address)).toBe(inside);
  });

  it('matches an IPv4-mapped IPv6 address (what Node reports on a dual-stack socket) as its IPv4 address', () => {
    expect(ranges.has('::ffff:10.1.2.3')).toBe(true);
    expect(ranges.has('::FFFF:10.1.2.3')).toBe(true);
    expect(ranges.has('::ffff:0a01:0203')).toBe(true); // the same address in hex
    expect(ranges.has('::ffff:11.1.2.3')).toBe(false);
    expect(ranges.has('0:0:0:0:0:ffff:172.16.0.1')).toBe(true);
  });

  it('keeps the families apart otherwise: ::/0 is every IPv6 client, not IPv4 ones', () => {
    const v6 = set('::/0');
    expect(v6.has('2001:db8::1')).toBe(true);
    expect(v6.has('10.0.0.1')).toBe(false);
    expect(v6.has('::ffff:10.0.0.1')).toBe(false);
    const v4 = set('0.0.0.0/0');
    expect(v4.has('::ffff:10.0.0.1')).toBe(true);
    expect(v4.has('2001:db8::1')).toBe(false);
  });

  it('puts a text that is no address outside every range, even 0.0.0.0/0', () => {
    const everyone = set('0.0.0.0/0, ::/0');
    for (const text of ['', 'unknown', '1.2.3.4:80', '[::1]', ' 1.2.3.4', '1.2.3.4 ', '01.2.3.4', '::g', '1:2']) {
      expect(everyone.has(text), text).toBe(false);
      expect(everyone.classify(text), text).toBe(-1);
    }
  });

  it('tells inside (1), outside (0) and not an address (-1) apart, also within a slice of a longer text', () => {
    expect(ranges.classify('10.0.0.1')).toBe(1);
    expect(ranges.classify('8.8.8.8')).toBe(0);
    expect(ranges.classify('nonsense')).toBe(-1);
    const header = 'x 10.0.0.1 y';
    expect(ranges.classify(header, 2, 10)).toBe(1);
  });

  it('is usable detached, as a plain (address) => boolean', () => {
    const { has } = ranges;
    expect(['10.0.0.1', '8.8.8.8'].filter(has)).toEqual(['10.0.0.1']);
  });
});
