import { execFileSync } from 'node:child_process';
import { compare, hashSync } from 'bcryptjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { HtpasswdError, HtpasswdStore, parseBasic, parseHtpasswd } from '../../../src/auth/basic.ts';

/** Real entries from Apache's htpasswd (Debian apache2-utils), at cost 5 to keep the tests quick. */
function htpasswd(user: string, password: string): string {
  try {
    return execFileSync('htpasswd', ['-nbBC', '5', user, password], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error(`htpasswd (Debian package apache2-utils) is needed for these tests: ${(error as Error).message}`);
  }
}

let alice: string;
let bob: string;
beforeAll(() => {
  alice = htpasswd('alice', 'correct horse');
  bob = htpasswd('bob', 'pa:ss wörd');
});

const spyCompare = () => vi.fn((password: string, hash: string) => compare(password, hash));

describe('htpasswd file', () => {
  it('reads htpasswd -B entries ($2y$) and bcryptjs ones ($2b$, $2a$)', () => {
    const b = `carol:${hashSync('x', 4)}`;
    const a = `dave:${hashSync('y', 4).replace('$2b$', '$2a$')}`;
    const users = parseHtpasswd(`${alice}\n\n# a comment\r\n${b}\r\n${a}\n`);
    expect([...users.keys()]).toEqual(['alice', 'carol', 'dave']);
    expect(users.get('alice')).toMatch(/^\$2y\$05\$/);
  });

  it.each([
    ['MD5 (apr1)', 'bob:$apr1$sunjdso8$tMYogOg9LXalNQlEN4nSa1'],
    ['SHA-1', 'carol:{SHA}lcsL/Sl3x2EpjZYk5LTUxyo5l0o='],
    ['crypt', 'dave:SrBdQnPepmFA6'],
    ['plain text', 'erin:secret'],
    ['a truncated bcrypt hash', 'frank:$2y$05$DzS6zqSrJw6Afimlu6pBB.UvXl4F7DG5rIIZKisve'],
  ])('refuses a %s entry with one line naming its line number, never the hash', (_kind, line) => {
    const text = `${alice}\n${line}\n`;
    expect(() => parseHtpasswd(text)).toThrow(HtpasswdError);
    try {
      parseHtpasswd(text);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/^line 2: /);
      expect(message).not.toContain('\n');
      expect(message).not.toContain(line.slice(line.indexOf(':') + 1));
    }
  });

  it('refuses a line without a user, and a user named twice', () => {
    expect(() => parseHtpasswd(`${alice}\n${alice.replace('alice', '')}`)).toThrow(/^line 2: not a user:hash entry/);
    expect(() => parseHtpasswd(`${alice}\n${alice}`)).toThrow(/^line 2: a second entry/);
  });
});

describe('Basic credentials (RFC 7617)', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

  it('splits at the first colon: the password may hold colons', () => {
    expect(parseBasic(basic('bob:pa:ss wörd'))).toEqual({ user: 'bob', password: 'pa:ss wörd' });
  });

  it('decodes UTF-8 user names and a scheme in any case', () => {
    expect(parseBasic(`bAsIc ${Buffer.from('zoë:pw').toString('base64')}`)).toEqual({ user: 'zoë', password: 'pw' });
  });

  it.each([
    ['no colon', basic('alice')],
    ['an empty user', basic(':pw')],
    ['bad base64', 'Basic !!!!'],
    ['invalid UTF-8', `Basic ${Buffer.from([0x61, 0xff, 0x3a, 0x62]).toString('base64')}`],
    ['a control character in the user', basic('al\nice:pw')],
    ['another scheme', `Bearer ${Buffer.from('alice:pw').toString('base64')}`],
  ])('refuses %s', (_what, header) => {
    expect(parseBasic(header)).toBeUndefined();
  });
});

describe('htpasswd store', () => {
  it('passes the right password and refuses a wrong one', async () => {
    const store = new HtpasswdStore(`${alice}\n${bob}\n`);
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    expect(await store.check('bob', 'pa:ss wörd')).toBe('bob');
    expect(await store.check('alice', 'Correct horse')).toBeUndefined();
  });

  it('compares an unknown user against a dummy hash of the same cost, so the time does not tell', async () => {
    const compareSpy = spyCompare();
    const store = new HtpasswdStore(`${alice}\n`, { compare: compareSpy });
    expect(await store.check('mallory', 'correct horse')).toBeUndefined();
    expect(compareSpy).toHaveBeenCalledTimes(1);
    const [password, hash] = compareSpy.mock.calls[0] as [string, string];
    expect(password).toBe('correct horse');
    expect(hash).toMatch(/^\$2b\$05\$[./A-Za-z0-9]{53}$/);
    // Even the right password of another user does not open the dummy.
    expect(await compare('correct horse', hash)).toBe(false);
  });

  it('picks the cost most entries use for the dummy', async () => {
    const compareSpy = spyCompare();
    const store = new HtpasswdStore([alice, bob, `carol:${hashSync('x', 4)}`].join('\n'), { compare: compareSpy });
    await store.check('nobody', 'x');
    expect(compareSpy.mock.calls[0]?.[1]).toMatch(/^\$2b\$05\$/);
  });

  it('remembers a successful check: the same credentials cost no second bcrypt', async () => {
    const compareSpy = spyCompare();
    const store = new HtpasswdStore(`${alice}\n`, { compare: compareSpy });
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    expect(compareSpy).toHaveBeenCalledTimes(1);
  });

  it('never remembers a failed one: every wrong guess costs a bcrypt', async () => {
    const compareSpy = spyCompare();
    const store = new HtpasswdStore(`${alice}\n`, { compare: compareSpy });
    await store.check('alice', 'wrong');
    await store.check('alice', 'wrong');
    await store.check('mallory', 'wrong');
    await store.check('mallory', 'wrong');
    expect(compareSpy).toHaveBeenCalledTimes(4);
  });

  it('shares one bcrypt among concurrent checks of the same credentials', async () => {
    const compareSpy = spyCompare();
    const store = new HtpasswdStore(`${alice}\n`, { compare: compareSpy });
    const results = await Promise.all([1, 2, 3].map(() => store.check('alice', 'correct horse')));
    expect(results).toEqual(['alice', 'alice', 'alice']);
    expect(compareSpy).toHaveBeenCalledTimes(1);
  });

  it('forgets remembered checks when the file changes: a removed user stops passing', async () => {
    const store = new HtpasswdStore(`${alice}\n${bob}\n`);
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    store.replace(`${bob}\n`);
    expect(await store.check('alice', 'correct horse')).toBeUndefined();
    expect(await store.check('bob', 'pa:ss wörd')).toBe('bob');
  });

  it('forgets a changed password', async () => {
    const store = new HtpasswdStore(`${alice}\n`);
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    store.replace(htpasswd('alice', 'battery staple'));
    expect(await store.check('alice', 'correct horse')).toBeUndefined();
    expect(await store.check('alice', 'battery staple')).toBe('alice');
  });

  it('keeps the entries in use when the new file is bad, and says which line', async () => {
    const store = new HtpasswdStore(`${alice}\n`);
    expect(() => store.replace(`${bob}\nbroken line\n`)).toThrow(/^line 2: /);
    expect(store.size).toBe(1);
    expect(await store.check('alice', 'correct horse')).toBe('alice');
    expect(await store.check('bob', 'pa:ss wörd')).toBeUndefined();
  });
});
