/**
 * The account key cache: a valid key is reused for at most 500 ms past the lookup that found it
 * (refreshed ahead of that under steady use), revoked and expired keys are refused, a key
 * revoked in this process is refused at once, and `last_used_at` is written once a minute.
 */
import { describe, expect, it } from 'vitest';
import { ApiKeyCache, authenticate } from '../src/api/auth.js';
import { BUILT_IN } from '../src/config.js';
import { hashApiKey } from '../src/security/api-keys.js';
import type { ApiKeyRow } from '../src/store/types.js';

const TTL = BUILT_IN.apiKeyCacheMs;

function fakeStore(rows: ApiKeyRow[]) {
  const calls: string[] = [];
  const marks: { id: string; now: number; notBefore: number }[] = [];
  /** Set to hold lookups until released (a slow database). */
  let gate: Promise<void> | undefined;
  const store = {
    async findApiKeyByHash(hash: string) {
      calls.push(hash);
      // Read now, answered when released: what a query that saw the row before a commit says.
      const row = rows.find((r) => r.keyHash === hash);
      const copy = row && { ...row };
      if (gate) await gate;
      return copy;
    },
    async markApiKeyUsed(id: string, now: number, notBefore: number) {
      marks.push({ id, now, notBefore });
    },
  };
  return {
    calls,
    marks,
    store,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const request = (key: string) =>
  ({ headers: { authorization: `Bearer ${key}` } }) as Parameters<typeof authenticate>[0];

const flush = () => new Promise((r) => setImmediate(r));

describe('ApiKeyCache', () => {
  const key = 'afk_live_0123456789abcdef0123456789abcdef';
  const row: ApiKeyRow = {
    id: 'key_1',
    accountId: 'acc_1',
    keyHash: hashApiKey(key),
    prefix: 'afk_live_01',
    name: 'ci',
    scopes: ['read'],
    createdAt: 0,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
  };
  const config = { adminKey: 'afk_admin_ffffffffffffffffffffffffffffffff' };
  const who = { kind: 'account', accountId: 'acc_1', keyId: 'key_1', scopes: ['read'] };
  const depsOf = (store: unknown) =>
    ({ config, store }) as unknown as Parameters<typeof authenticate>[1];

  it('bounds how long a lookup vouches for a key to under a second', () => {
    expect(TTL).toBeGreaterThan(0);
    expect(TTL).toBeLessThan(1000);
  });

  it('reuses a lookup for less than its lifetime, then looks the key up again', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const { calls, store } = fakeStore([row]);
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    now += TTL / 2 - 1;
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    expect(calls).toHaveLength(1);
    // No request in the second half: the entry dies at TTL and the next request looks it up.
    now += TTL / 2 + 1;
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    expect(calls).toHaveLength(2);
  });

  it('under steady use refreshes ahead of expiry, without making a request wait', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const { calls, store, hold } = fakeStore([row]);
    await authenticate(request(key), depsOf(store), cache);
    now += TTL / 2;
    const release = hold();
    // Answered from the cache although the refresh it started has not come back.
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    expect(calls).toHaveLength(2);
    release();
    await flush();
    // The refresh started at TTL/2: it vouches until 1.5 TTL.
    now += TTL - 1;
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    expect(calls).toHaveLength(3);
  });

  it('a key revoked elsewhere is refused once the lookup that saw it valid is TTL old', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const rows = [{ ...row }];
    const { store } = fakeStore(rows);
    await authenticate(request(key), depsOf(store), cache);
    rows[0]!.revokedAt = now + 1;
    now += TTL;
    await expect(authenticate(request(key), depsOf(store), cache)).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
  });

  it('a slow refresh does not stretch the bound: the entry still ends at TTL', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const rows = [{ ...row }];
    const { store, hold } = fakeStore(rows);
    await authenticate(request(key), depsOf(store), cache);
    now += TTL / 2;
    const release = hold();
    await authenticate(request(key), depsOf(store), cache);
    rows[0]!.revokedAt = now;
    now += TTL / 2;
    // The refresh is still out; the entry is dead: this request waits for a lookup of its own.
    const answer = authenticate(request(key), depsOf(store), cache);
    release();
    await expect(answer).rejects.toMatchObject({ status: 401 });
  });

  it('refuses an expired key, and stops vouching for a cached one when it expires', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const { store } = fakeStore([{ ...row, expiresAt: 1_100 }]);
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    now = 1_099;
    expect(await authenticate(request(key), depsOf(store), cache)).toEqual(who);
    now = 1_100;
    await expect(authenticate(request(key), depsOf(store), cache)).rejects.toMatchObject({
      status: 401,
    });
  });

  it('forget refuses the key at once, and a lookup under way then does not bring it back', async () => {
    const now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const rows = [{ ...row }];
    const { store, hold } = fakeStore(rows);
    await authenticate(request(key), depsOf(store), cache);
    cache.forget('key_1');
    // A lookup that read the row before the revocation committed...
    const release = hold();
    const inFlight = authenticate(request(key), depsOf(store), cache);
    await flush();
    cache.forget('key_1');
    rows[0]!.revokedAt = now;
    release();
    // ...answers its own request, but is not cached: the next request looks the key up.
    expect(await inFlight).toEqual(who);
    await expect(authenticate(request(key), depsOf(store), cache)).rejects.toMatchObject({
      status: 401,
    });
  });

  it('never keeps an unknown key: each try is looked up and refused', async () => {
    const cache = new ApiKeyCache();
    const { calls, store } = fakeStore([]);
    for (let i = 0; i < 3; i++) {
      await expect(authenticate(request(key), depsOf(store), cache)).rejects.toMatchObject({
        status: 401,
        code: 'unauthorized',
      });
    }
    expect(calls).toHaveLength(3);
  });

  it('writes last_used_at at most once a minute per key, never per request', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const { marks, store } = fakeStore([row]);
    for (let i = 0; i < 100; i++) {
      await authenticate(request(key), depsOf(store), cache);
      now += 50;
    }
    // 100 requests over 5 s: one write, conditional on no write in the minute before it.
    expect(marks).toEqual([{ id: 'key_1', now: 1_000, notBefore: 1_000 - 60_000 }]);
    now = 1_000 + 60_000;
    await authenticate(request(key), depsOf(store), cache);
    expect(marks).toHaveLength(2);
  });

  it('does not write last_used_at when the stored one is under a minute old', async () => {
    const now = 100_000;
    const cache = new ApiKeyCache(() => now);
    const { marks, store } = fakeStore([{ ...row, lastUsedAt: now - 30_000 }]);
    await authenticate(request(key), depsOf(store), cache);
    expect(marks).toEqual([]);
  });

  it('holds at most 10,000 keys, dropping the oldest', async () => {
    const cache = new ApiKeyCache(() => 0);
    const lookup = cache.begin();
    for (let i = 0; i <= 10_000; i++) cache.set(`h${i}`, { ...row, id: `key_${i}` }, lookup);
    expect(cache.get('h0')).toBeUndefined();
    expect(cache.get('h1')?.principal.keyId).toBe('key_1');
    expect(cache.get('h10000')?.principal.keyId).toBe('key_10000');
  });
});
