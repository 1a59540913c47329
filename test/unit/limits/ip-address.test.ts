/**
 * Tier 1: addresses as text (src/limits/ip-address.ts): which forms are addresses, and the one
 * key each address gets however it is written.
 */
import { describe, expect, it } from 'vitest';
import { addressKey, isIpAddress } from '../../../src/limits/ip-address.ts';

describe('isIpAddress', () => {
  it.each([
    ['192.0.2.1', true],
    ['0.0.0.0', true],
    ['255.255.255.255', true],
    ['256.0.0.1', false],
    ['192.0.2', false],
    ['192.0.2.1.', false],
    ['192.0.02.1', false],
    ['', false],
    ['::', true],
    ['::ffff:192.0.2.1', true],
    ['1:2:3:4:5:6:7:8', true],
    ['1:2:3:4:5:6:7::', true],
    ['::2:3:4:5:6:7:8', true],
    ['1:2:3:4:5:6:1.2.3.4', true],
    ['::1.2.3.4', true],
    ['1:2:3:4:5:6:7:1.2.3.4', false],
    ['1:2:3:4:5:6:7:8::', false],
    ['1:', false],
    [':1', false],
    ['1:2:3:4:5:6:7:8%eth0', true],
  ])('%s: %s', (text, valid) => {
    expect(isIpAddress(text)).toBe(valid);
  });
});

describe('addressKey', () => {
  it('gives one key per address however it is written', () => {
    expect(addressKey('::ffff:192.0.2.1')).toBe(addressKey('192.0.2.1'));
    expect(addressKey('2001:DB8::1')).toBe(addressKey('2001:db8:0:0::1'));
    expect(addressKey('fe80::1%eth0')).toBe(addressKey('fe80::1'));
    expect(addressKey('192.0.2.1')).not.toBe(addressKey('192.0.2.2'));
    expect(addressKey('::1')).not.toBe(addressKey('::2'));
    expect(addressKey('0.0.0.1')).not.toBe(addressKey('::1'));
    expect(addressKey('1.2.3.4')).not.toBe(addressKey('::102:304'));
  });

  it('has no key for a text that is no address', () => {
    expect(addressKey('unknown')).toBeUndefined();
  });
});
