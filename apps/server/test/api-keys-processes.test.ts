// biome-ignore-all lint/suspicious/noExplicitAny: API answers are read loosely in tests.
/**
 * Revocation across processes (SPEC §5): two api processes on one PostgreSQL database, each
 * with the key in its cache from steady use. A key revoked through one is refused by that one at
 * once and by the other within a second, and stays refused; an expired key is refused by both.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { client } from './helpers/client.js';
import {
  type Cluster,
  createAccountKey,
  createCluster,
  type ServiceProcess,
} from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';

await describePostgres('API keys across two api processes', (ctx) => {
  let cluster: Cluster;
  let one: ServiceProcess;
  let two: ServiceProcess;
  let full: string;

  beforeAll(async () => {
    cluster = await createCluster(ctx.url);
    // Each key is used by two loops at 100 requests a second: the default limit per key
    // (AF_RATE_LIMIT, 100/s shared by both processes) is not what these tests are about.
    const env = { AF_RATE_LIMIT: '0' };
    [one, two] = (await cluster.startMany([
      { role: 'api', env },
      { role: 'api', env },
    ])) as [ServiceProcess, ServiceProcess];
    full = await createAccountKey(one.url);
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  /** Calls `url` with `key` every 10 ms while `until` is false; answers the statuses seen. */
  function hammer(url: string, key: string) {
    const call = client(url, key);
    let stop = false;
    const statuses: { at: number; status: number }[] = [];
    const done = (async () => {
      while (!stop) {
        // When the request was sent: one sent before a revocation may be answered after it.
        const at = Date.now();
        const res = await call('GET', '/v1/webhooks');
        statuses.push({ at, status: res.status });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    return {
      statuses,
      async stop() {
        stop = true;
        await done;
      },
    };
  }

  it('a key revoked through one process is refused there at once and by the other within 1 s', async () => {
    const made = await client(one.url, full)('POST', '/v1/api-keys', { name: 'leaked' });
    expect(made.status).toBe(201);
    const leaked = made.body.api_key as string;
    // Both processes use it steadily: it sits in both caches, refreshed ahead of expiry.
    const onOne = hammer(one.url, leaked);
    const onTwo = hammer(two.url, leaked);
    await new Promise((r) => setTimeout(r, 1500));
    expect(onTwo.statuses.length).toBeGreaterThan(20);
    expect(onTwo.statuses.every((s) => s.status === 200)).toBe(true);

    const revoke = await client(one.url, full)('DELETE', `/v1/api-keys/${made.body.id}`);
    expect(revoke.status).toBe(204);
    const revokedAt = Date.now();
    // The revoking process: the first request after the 204.
    expect((await client(one.url, leaked)('GET', '/v1/webhooks')).status).toBe(401);

    await new Promise((r) => setTimeout(r, 1500));
    await onOne.stop();
    await onTwo.stop();
    // The other process: no success later than 1 s after the revocation, refusals since.
    const lastOk = Math.max(...onTwo.statuses.filter((s) => s.status === 200).map((s) => s.at));
    expect(lastOk - revokedAt).toBeLessThan(1000);
    const after = onTwo.statuses.filter((s) => s.at > revokedAt + 1000);
    expect(after.length).toBeGreaterThan(10);
    expect(after.every((s) => s.status === 401)).toBe(true);
    // On the revoking process nothing succeeded once the 204 was received.
    expect(onOne.statuses.filter((s) => s.at > revokedAt && s.status === 200)).toEqual([]);
  });

  it('an expired key is refused by both processes from its expiry on', async () => {
    const expiresAt = Date.now() + 1500;
    const made = await client(one.url, full)('POST', '/v1/api-keys', {
      name: 'short',
      scopes: ['read'],
      expires_at: new Date(expiresAt).toISOString(),
    });
    expect(made.status).toBe(201);
    const onTwo = hammer(two.url, made.body.api_key);
    const onOne = hammer(one.url, made.body.api_key);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 500));
    await onOne.stop();
    await onTwo.stop();
    for (const statuses of [onOne.statuses, onTwo.statuses]) {
      expect(statuses.some((s) => s.status === 200)).toBe(true);
      // A request sent just before the expiry may be answered just after it.
      expect(statuses.filter((s) => s.status === 200 && s.at > expiresAt + 100)).toEqual([]);
      expect(statuses.filter((s) => s.at > expiresAt + 100).length).toBeGreaterThan(5);
    }
  });

  it("a deleted account's keys are refused by both processes within 1 s", async () => {
    // No route deletes accounts yet: an operator's DELETE of the row is what happens today.
    const key = await createAccountKey(one.url);
    const onOne = hammer(one.url, key);
    const onTwo = hammer(two.url, key);
    await new Promise((r) => setTimeout(r, 800));
    const [row] = await cluster.sql<{ account_id: string }>(
      'select account_id from api_keys where key_hash = encode(sha256($1::bytea), $2)',
      [key, 'hex'],
    );
    expect(row).toBeDefined();
    await cluster.sql('delete from accounts where id = $1', [row!.account_id]);
    const deletedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    await onOne.stop();
    await onTwo.stop();
    for (const statuses of [onOne.statuses, onTwo.statuses]) {
      expect(statuses.some((s) => s.status === 200)).toBe(true);
      expect(statuses.filter((s) => s.status === 200 && s.at > deletedAt + 1000)).toEqual([]);
      expect(statuses.filter((s) => s.at > deletedAt + 1000).length).toBeGreaterThan(10);
    }
  });

  it('last_used_at is written once a minute, not per request', async () => {
    const rows = await cluster.sql<{ last_used_at: string | null }>(
      "select last_used_at from api_keys where name = 'leaked'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.last_used_at).not.toBeNull();
    // Hundreds of requests above through two processes; the row's tuple was updated at most
    // once per process (the first use), and the conditional update keeps the second out.
    const [stats] = await cluster.sql<{ n_tup_upd: string }>(
      "select n_tup_upd from pg_stat_user_tables where relname = 'api_keys'",
    );
    expect(Number(stats?.n_tup_upd ?? 0)).toBeLessThanOrEqual(6);
  });
});
