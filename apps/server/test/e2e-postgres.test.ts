/**
 * The service on PostgreSQL (`DATABASE_URL`), split in two processes' roles: an `api` instance
 * accepts events and a `worker` instance on the same database delivers them; the worker serves
 * only the operations routes. Skipped with one line when PostgreSQL is not reachable (not in CI).
 */
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, expect, it } from 'vitest';
import { client, eventually } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const started: (TestServer | Receiver)[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
});

await describePostgres('service on PostgreSQL, api and worker roles', (pg) => {
  it('the api accepts, the worker delivers; the worker serves operations routes only', async () => {
    const schema = pg.freshSchema();
    const shared = {
      DATABASE_URL: pg.url,
      AF_ADMIN_KEY: 'admin-key-for-postgres-tests',
      AF_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
      // The receiver runs on loopback; on PostgreSQL private networks are refused by default.
      AF_ALLOW_PRIVATE_NETWORKS: 'true',
    };
    const api = await startTestServer({ ...shared, AF_ROLE: 'api' }, { databaseSchema: schema });
    started.push(api);
    const worker = await startTestServer(
      { ...shared, AF_ROLE: 'worker' },
      { databaseSchema: schema },
    );
    started.push(worker);
    const receiver = await startReceiver();
    started.push(receiver);

    const call = client(api.url, api.apiKey);
    const wh = await call('POST', '/v1/webhooks', { name: 'pg', url: receiver.url, events: ['*'] });
    expect(wh.status).toBe(201);
    const evt = await call('POST', '/v1/events', {
      event: 'agent.deployed',
      data: eventSamples['agent.deployed'],
    });
    expect(evt.status).toBe(202);
    await receiver.waitFor(1, 15_000);
    expect(JSON.parse(receiver.requests[0]!.body).id).toBe(evt.body.id);
    await eventually(async () => {
      const d = await call('GET', `/v1/deliveries?event_id=${evt.body.id}`);
      return d.body.data[0]?.status === 'succeeded' ? true : undefined;
    });

    // The test action runs in the api process itself.
    const test = await call('POST', `/v1/webhooks/${wh.body.id}/test`);
    expect(test.body.success).toBe(true);

    expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${worker.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${worker.url}/v1/webhooks`)).status).toBe(404);
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
  });
});
