import { describe, expect, it } from 'vitest';
import { FlatHeaders, headersInit } from '../../../src/proxy/flat-headers.ts';

type Step = ['append' | 'set', string, string] | ['delete', string];

/** Everything the core can observe of a Headers: every read, after each step. */
function observe(headers: Headers): unknown {
  const names = ['host', 'accept', 'set-cookie', 'x-a', 'cookie', 'x-missing'];
  return {
    entries: [...headers],
    forEach: (() => {
      const seen: string[][] = [];
      headers.forEach((value, name) => seen.push([name, value]));
      return seen;
    })(),
    keys: [...headers.keys()],
    values: [...headers.values()],
    gets: names.map((name) => [headers.get(name), headers.get(name.toUpperCase()), headers.has(name)]),
    cookies: headers.getSetCookie(),
  };
}

describe('FlatHeaders', () => {
  const raw = ['Host', 'app.example', 'Accept', 'text/html', 'X-A', 'one', 'accept', '*/*', 'Set-Cookie', 'a=1'];
  const steps: Step[] = [
    ['append', 'Set-Cookie', 'b=2; Path=/'],
    ['set', 'X-A', 'two'],
    ['append', 'x-a', 'three'],
    ['set', 'x-a', '  trimmed\t'],
    ['delete', 'ACCEPT'],
    ['append', 'Accept', 'again'],
    ['set', 'x-new', 'v'],
    ['delete', 'x-never-there'],
  ];

  it('reads and edits as the Fetch standard Headers does, step by step', () => {
    const flat = FlatHeaders.fromRaw(raw);
    const web = new Headers();
    for (let i = 0; i < raw.length; i += 2) web.append(raw[i] as string, raw[i + 1] as string);
    expect(observe(flat)).toEqual(observe(web));
    for (const step of steps) {
      if (step[0] === 'delete') {
        flat.delete(step[1]);
        web.delete(step[1]);
      } else {
        flat[step[0]](step[1], step[2]);
        web[step[0]](step[1], step[2]);
      }
      expect(observe(flat), step.join(' ')).toEqual(observe(web));
    }
  });

  it('keeps the fields in arrival order, repeated ones apart, for a client that takes a flat list', () => {
    const flat = FlatHeaders.fromRaw(raw);
    flat.set('x-a', 'two');
    flat.append('X-Forwarded-For', '10.0.0.1');
    expect(flat.fields()).toEqual([
      'host',
      'app.example',
      'accept',
      'text/html',
      'x-a',
      'two',
      'accept',
      '*/*',
      'set-cookie',
      'a=1',
      'x-forwarded-for',
      '10.0.0.1',
    ]);
  });

  it('leaves out HTTP/2 pseudo-headers and joins HTTP/2 cookie fields with "; " (RFC 9113 §8.2.3)', () => {
    const flat = FlatHeaders.fromRaw([':method', 'GET', ':path', '/', 'cookie', 'a=1', 'x', 'y', 'cookie', 'b=2']);
    expect(flat.fields()).toEqual(['cookie', 'a=1; b=2', 'x', 'y']);
  });

  it('refuses the names and values a Headers refuses, with a TypeError', () => {
    const flat = FlatHeaders.fromRaw([]);
    expect(() => flat.set('bad name', 'v')).toThrow(TypeError);
    expect(() => flat.append('x', 'a\r\nInjected: yes')).toThrow(TypeError);
    expect(() => flat.get('bad:name')).toThrow(TypeError);
    expect(() => new Headers().append('x', 'a\nb')).toThrow(TypeError);
    expect(flat.fields()).toEqual([]);
  });

  it('builds a Response with a plain record when no name repeats, with pairs when one does', async () => {
    const single = FlatHeaders.fromRecord({ 'content-type': 'text/html', 'x-request-id': 'r' });
    expect(headersInit(single)).toEqual({ 'content-type': 'text/html', 'x-request-id': 'r' });
    const cookies = FlatHeaders.fromRecord({ 'set-cookie': ['a=1', 'b=2'], vary: 'accept' });
    const init = headersInit(cookies);
    expect(init).toEqual([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['vary', 'accept'],
    ]);
    expect(new Response('x', { headers: init }).headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    // A field named `__proto__` cannot be a plain object's key: pairs carry it.
    const proto = FlatHeaders.fromRaw(['__proto__', 'x']);
    expect(new Headers(headersInit(proto)).get('__proto__')).toBe('x');
  });

  it('gives a server that writes them a record with a repeated field as an array', () => {
    const cookies = FlatHeaders.fromRecord({ 'set-cookie': ['a=1', 'b=2', 'c=3'], vary: 'accept' });
    expect(cookies.init(true)).toEqual({ 'set-cookie': ['a=1', 'b=2', 'c=3'], vary: 'accept' });
    expect(FlatHeaders.fromRecord({ a: '1' }).init(true)).toEqual({ a: '1' });
    expect(Array.isArray(FlatHeaders.fromRaw(['__proto__', 'x', '__proto__', 'y']).init(true))).toBe(true);
  });

  it('hands a web Headers through unchanged', () => {
    const web = new Headers({ a: '1' });
    expect(headersInit(web)).toBe(web);
    expect(FlatHeaders.from(web).fields()).toEqual(['a', '1']);
  });

  it('has what Bun adds to Headers', () => {
    const flat = FlatHeaders.fromRecord({ 'set-cookie': ['a=1', 'b=2'], b: '1' });
    expect(flat.count).toBe(3);
    expect(flat.getAll('Set-Cookie')).toEqual(['a=1', 'b=2']);
    expect(flat.toJSON()).toEqual({ b: '1', 'set-cookie': ['a=1', 'b=2'] });
  });
});
