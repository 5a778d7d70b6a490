/** The account key cache: valid keys are reused for a while, unknown keys are always looked up. */
import { describe, expect, it } from 'vitest';
import { ApiKeyCache, authenticate } from '../src/api/auth.js';
import { hashApiKey } from '../src/security/api-keys.js';
import type { ApiKeyRow } from '../src/store/types.js';

function lookups(rows: ApiKeyRow[]) {
  const calls: string[] = [];
  const store = {
    async findApiKeyByHash(hash: string) {
      calls.push(hash);
      return rows.find((r) => r.keyHash === hash);
    },
  };
  return { calls, store };
}

const request = (key: string) =>
  ({ headers: { authorization: `Bearer ${key}` } }) as Parameters<typeof authenticate>[0];

describe('ApiKeyCache', () => {
  const key = 'afk_live_0123456789abcdef0123456789abcdef';
  const row: ApiKeyRow = {
    id: 'key_1',
    accountId: 'acc_1',
    keyHash: hashApiKey(key),
    prefix: 'afk_live_01',
    createdAt: 0,
  };
  const config = { adminKey: 'afk_admin_ffffffffffffffffffffffffffffffff' };

  it('looks a valid key up once per 10 s, then again', async () => {
    let now = 1_000;
    const cache = new ApiKeyCache(() => now);
    const { calls, store } = lookups([row]);
    const deps = { config, store } as unknown as Parameters<typeof authenticate>[1];
    const who = { kind: 'account', accountId: 'acc_1', keyId: 'key_1' };
    expect(await authenticate(request(key), deps, cache)).toEqual(who);
    now += 9_999;
    expect(await authenticate(request(key), deps, cache)).toEqual(who);
    expect(calls).toHaveLength(1);
    now += 1;
    expect(await authenticate(request(key), deps, cache)).toEqual(who);
    expect(calls).toHaveLength(2);
  });

  it('never keeps an unknown key: each try is looked up and refused', async () => {
    const cache = new ApiKeyCache();
    const { calls, store } = lookups([]);
    const deps = { config, store } as unknown as Parameters<typeof authenticate>[1];
    for (let i = 0; i < 3; i++) {
      await expect(authenticate(request(key), deps, cache)).rejects.toMatchObject({
        status: 401,
        code: 'unauthorized',
      });
    }
    expect(calls).toHaveLength(3);
  });

  it('holds at most 10,000 keys, dropping the oldest', () => {
    const cache = new ApiKeyCache(() => 0);
    const p = { kind: 'admin' } as const;
    for (let i = 0; i <= 10_000; i++) cache.set(`h${i}`, p);
    expect(cache.get('h0')).toBeUndefined();
    expect(cache.get('h1')).toEqual(p);
    expect(cache.get('h10000')).toEqual(p);
  });
});
