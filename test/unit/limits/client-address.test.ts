/**
 * Tier 1: who the client is (src/limits/client-address.ts). The cases are those of the
 * X-Forwarded-For spoofing advisories: a header believed from any peer (gin CVE-2020-28483,
 * gin-gonic/gin#2473), the left-most entry believed from a trusted peer (gin-gonic/gin#2862,
 * oauth2-proxy GHSA-7x63-xv5r-3p2x), and the shapes real balancers write (ports, brackets,
 * several header lines, IPv6), plus garbage.
 */
import { describe, expect, it } from 'vitest';
import { emptyCidrSet, parseCidrList } from '../../../src/limits/cidr.ts';
import { clientAddressResolver } from '../../../src/limits/client-address.ts';

function resolver(trusted: string) {
  const result = parseCidrList(trusted);
  if (!result.ok) throw new Error(result.reason);
  return clientAddressResolver(result.set);
}

/** The load balancers: 10.0.0.0/8 and fd00::/8. */
const behindBalancer = resolver('10.0.0.0/8, fd00::/8');
const balancer = '10.0.0.4';

describe('with no TRUSTED_PROXIES', () => {
  const direct = clientAddressResolver(emptyCidrSet);

  it('is the peer, whatever X-Forwarded-For claims (gin CVE-2020-28483)', () => {
    expect(direct('203.0.113.7', '127.0.0.1')).toBe('203.0.113.7');
    expect(direct('203.0.113.7', '10.0.0.1, 192.168.0.1')).toBe('203.0.113.7');
    expect(direct('::ffff:203.0.113.7', null)).toBe('::ffff:203.0.113.7');
  });

  it('is the peer even beside a garbage header, and unknown when the runtime gave no peer', () => {
    const peer = '2001:db8::7';
    expect(direct(peer, 'garbage')).toBe(peer);
    expect(direct(undefined, '203.0.113.7')).toBeUndefined();
  });
});

describe('X-Forwarded-For spoofing (gin-gonic/gin#2862, oauth2-proxy GHSA-7x63-xv5r-3p2x)', () => {
  it('ignores the header from a peer that is not a trusted proxy', () => {
    expect(behindBalancer('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    expect(behindBalancer('203.0.113.7', '10.0.0.9')).toBe('203.0.113.7');
  });

  it('takes the entry the trusted balancer appended, not the one the client wrote to its left', () => {
    // The client sent `X-Forwarded-For: 198.51.100.1`; the balancer appended what it saw.
    expect(behindBalancer(balancer, '198.51.100.1, 203.0.113.7')).toBe('203.0.113.7');
  });

  it('is not fooled by a client that forges a trusted proxy address to its left', () => {
    expect(behindBalancer(balancer, '10.0.0.9, 203.0.113.7')).toBe('203.0.113.7');
    expect(behindBalancer(balancer, '127.0.0.1, 10.1.1.1, 203.0.113.7')).toBe('203.0.113.7');
  });

  it('walks past a chain of trusted proxies to the first address that is not one', () => {
    expect(behindBalancer(balancer, '198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3')).toBe('203.0.113.7');
  });

  it('takes the left-most entry when every entry is a trusted proxy (as nginx real_ip_recursive does)', () => {
    expect(behindBalancer(balancer, '10.0.0.1, 10.0.0.2')).toBe('10.0.0.1');
  });

  it('is the trusted peer itself when it sent no X-Forwarded-For', () => {
    expect(behindBalancer(balancer, null)).toBe(balancer);
    expect(behindBalancer(balancer, undefined)).toBe(balancer);
    expect(behindBalancer(balancer, '')).toBe(balancer);
    expect(behindBalancer(balancer, ' , ,')).toBe(balancer);
  });

  it('trusts an IPv4-mapped peer as its IPv4 address (Node on a dual-stack socket)', () => {
    expect(behindBalancer('::ffff:10.0.0.4', '203.0.113.7')).toBe('203.0.113.7');
  });

  it('stays unknown when the runtime could not name the peer', () => {
    expect(behindBalancer(undefined, '203.0.113.7')).toBeUndefined();
  });
});

describe('the shapes balancers write', () => {
  it('reads several X-Forwarded-For lines as one list, in order (Headers.get joins them)', () => {
    const headers = new Headers();
    headers.append('x-forwarded-for', '198.51.100.1');
    headers.append('x-forwarded-for', '203.0.113.7, 10.0.0.2');
    expect(headers.get('x-forwarded-for')).toBe('198.51.100.1, 203.0.113.7, 10.0.0.2');
    expect(behindBalancer(balancer, headers.get('x-forwarded-for'))).toBe('203.0.113.7');
  });

  it('tolerates spaces and tabs around entries, and no spaces at all', () => {
    expect(behindBalancer(balancer, ' 198.51.100.1 ,\t203.0.113.7 \t')).toBe('203.0.113.7');
    expect(behindBalancer(balancer, '198.51.100.1,203.0.113.7,10.0.0.2')).toBe('203.0.113.7');
  });

  it('skips empty entries', () => {
    expect(behindBalancer(balancer, '203.0.113.7,,10.0.0.2,')).toBe('203.0.113.7');
  });

  it.each([
    ['203.0.113.7:5678', '203.0.113.7'],
    ['[2001:db8::7]:80', '2001:db8::7'],
    ['[2001:db8::7]', '2001:db8::7'],
    ['198.51.100.1:1, [2001:db8::7]:80, 10.0.0.3:80', '2001:db8::7'],
  ])('takes the address without its port or brackets: %j is %s', (header, client) => {
    expect(behindBalancer(balancer, header)).toBe(client);
  });

  it('judges a trusted entry with a port by its address', () => {
    expect(behindBalancer(balancer, '[fd00::2]:443, 10.0.0.3:80')).toBe('fd00::2');
  });

  it('reads bare IPv6 entries and trusts IPv6 proxies', () => {
    expect(behindBalancer('fd00::1', '2001:db8::7, fd00::2')).toBe('2001:db8::7');
    expect(behindBalancer('fd00::1', '2001:db8::7%eth0')).toBe('2001:db8::7%eth0');
  });

  it('reads an unbracketed IPv6 entry with many colons as an address, never as address and port', () => {
    // `2001:db8::1:80` is the address 2001:db8::1:80; a port needs brackets (RFC 3986 §3.2.2).
    expect(behindBalancer(balancer, '2001:db8::1:80')).toBe('2001:db8::1:80');
  });
});

describe('garbage in X-Forwarded-For', () => {
  it.each([
    ['unknown'],
    ['_hidden'],
    ['"203.0.113.7"'],
    ['203.0.113.7:99999'],
    ['203.0.113.7:'],
    ['203.0.113.7:port'],
    ['[2001:db8::7'],
    ['[2001:db8::7]x'],
    ['[203.0.113.7]:80'],
    ['203.0.113.7 198.51.100.1'],
    ['010.0.0.1'],
    ['::g'],
  ])('%j right of everything leaves the client at the trusted peer', (entry) => {
    expect(behindBalancer(balancer, entry)).toBe(balancer);
    expect(behindBalancer(balancer, `198.51.100.1, ${entry}`)).toBe(balancer);
  });

  it('stops the walk at the last trusted hop it reached, never handing the choice to an entry further left', () => {
    expect(behindBalancer(balancer, '198.51.100.1, garbage, 10.0.0.2')).toBe('10.0.0.2');
  });

  it('does not matter left of the first untrusted entry', () => {
    expect(behindBalancer(balancer, 'garbage, 203.0.113.7, 10.0.0.2')).toBe('203.0.113.7');
  });
});
