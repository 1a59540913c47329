/**
 * The session cache and its refresh, with an `open` and a `refresh` the test controls: cookies
 * are opened once, one refresh runs per session however many requests wait for it, and its
 * outcome decides what the waiting requests get.
 */
import { describe, expect, it } from 'vitest';
import { Sessions } from '../../../../src/auth/oidc/sessions.ts';
import type { RefreshResult } from '../../../../src/auth/oidc/sessions.ts';
import type { Session } from '../../../../src/auth/oidc/session.ts';

const NOW_S = 1_900_000_000;

function session(overrides: Partial<Session> = {}): Session {
  return {
    sub: 'alice',
    groups: ['staff'],
    refreshToken: 'rt',
    accessToken: 'at-1',
    accessTokenExpiresAt: NOW_S + 60,
    refreshAt: NOW_S + 30,
    expiresAt: NOW_S + 3600,
    ...overrides,
  };
}

function rig(stored: Record<string, Session>, capacity?: number) {
  const clock = { nowS: NOW_S };
  const opened: string[] = [];
  const refreshes: { session: Session; resolve: (result: RefreshResult) => void }[] = [];
  const sessions = new Sessions({
    open: async (value) => {
      opened.push(value);
      return stored[value];
    },
    refresh: (current) => new Promise((resolve) => refreshes.push({ session: current, resolve })),
    nowMs: () => clock.nowS * 1000,
    ...(capacity === undefined ? {} : { capacity }),
  });
  return { sessions, clock, opened, refreshes };
}

/** Lets pending promise callbacks run (the refresh starts after the cached entry is read). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Sessions', () => {
  it('opens a cookie once and answers repeats from the cache', async () => {
    const { sessions, opened } = rig({ c1: session() });
    for (let i = 0; i < 3; i++) {
      expect(await sessions.resolve('c1')).toEqual({
        identity: { user: 'alice', email: undefined, groups: ['staff'], accessToken: 'at-1' },
      });
    }
    expect(opened).toEqual(['c1']);
  });

  it('remembers a cookie that opens nothing, and forgets the oldest beyond its capacity', async () => {
    const { sessions, opened } = rig({ c1: session(), c2: session() }, 2);
    expect(await sessions.resolve('forged')).toBeUndefined();
    expect(await sessions.resolve('forged')).toBeUndefined();
    await sessions.resolve('c1');
    await sessions.resolve('c2');
    await sessions.resolve('forged');
    expect(opened).toEqual(['forged', 'c1', 'c2', 'forged']);
  });

  it("does not serve a cached session to another value that shares its JWE tag (the cache's key)", async () => {
    const { sessions, opened } = rig({ 'header..iv.ciphertext.TAG': session() });
    expect(await sessions.resolve('header..iv.ciphertext.TAG')).toBeDefined();
    expect(await sessions.resolve('header..iv.forged.TAG')).toBeUndefined();
    expect(opened).toEqual(['header..iv.ciphertext.TAG', 'header..iv.forged.TAG']);
  });

  it('ends a session at its end, and at logout', async () => {
    const { sessions, clock } = rig({ c1: session({ refreshToken: undefined }), c2: session() });
    clock.nowS = NOW_S + 3599;
    expect(await sessions.resolve('c1')).toBeDefined();
    clock.nowS = NOW_S + 3600;
    expect(await sessions.resolve('c1')).toBeUndefined();
    clock.nowS = NOW_S;
    sessions.end('c2');
    expect(await sessions.resolve('c2')).toBeUndefined();
  });

  it('without a refresh token, serves the session until its end but not an expired access token', async () => {
    const { sessions, clock, refreshes } = rig({ c1: session({ refreshToken: undefined }) });
    clock.nowS = NOW_S + 60;
    const result = await sessions.resolve('c1');
    expect(result).toMatchObject({ identity: { user: 'alice', accessToken: undefined } });
    expect(refreshes).toHaveLength(0);
  });

  it('runs one refresh for all the requests that find the session due, and gives each the new cookie', async () => {
    const { sessions, clock, refreshes } = rig({ c1: session() });
    clock.nowS = NOW_S + 30;
    const waiting = [sessions.resolve('c1'), sessions.resolve('c1'), sessions.resolve('c1')];
    await settle();
    expect(refreshes).toHaveLength(1);
    const next = session({ accessToken: 'at-2', accessTokenExpiresAt: NOW_S + 90, refreshAt: NOW_S + 60 });
    refreshes[0]?.resolve({ session: next, value: 'c1-new', setCookie: 'cookie line' });
    for (const result of await Promise.all(waiting)) {
      expect(result).toMatchObject({ identity: { accessToken: 'at-2' }, setCookie: ['cookie line'] });
    }
    // The old value now stands for the new session (and its cookie); the new value needs nothing.
    expect(await sessions.resolve('c1')).toMatchObject({ setCookie: ['cookie line'] });
    expect(await sessions.resolve('c1-new')).toEqual({ identity: expect.objectContaining({ accessToken: 'at-2' }) });
    expect(refreshes).toHaveLength(1);
  });

  it('ends the session when the refresh is rejected, and does not try again', async () => {
    const { sessions, clock, refreshes } = rig({ c1: session() });
    clock.nowS = NOW_S + 30;
    const waiting = sessions.resolve('c1');
    await settle();
    refreshes[0]?.resolve('rejected');
    expect(await waiting).toBeUndefined();
    expect(await sessions.resolve('c1')).toBeUndefined();
    expect(refreshes).toHaveLength(1);
  });

  it('answers unavailable while the IdP cannot refresh, and tries again on the next request', async () => {
    const { sessions, clock, refreshes } = rig({ c1: session() });
    clock.nowS = NOW_S + 30;
    const first = sessions.resolve('c1');
    await settle();
    refreshes[0]?.resolve('unavailable');
    expect(await first).toBe('unavailable');
    const second = sessions.resolve('c1');
    await settle();
    expect(refreshes).toHaveLength(2);
    refreshes[1]?.resolve('unavailable');
    expect(await second).toBe('unavailable');
  });
});
