/**
 * The service passes the shared signature vectors (the SDK's copy of `shared/vectors`, computed
 * independently of this code) through a real delivery: the event is stored with the vector's id
 * and body, the clock stands at the vector's timestamp, and the receiver must see exactly the
 * vector's signature headers — rotation case included.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './engine-harness.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

interface Vector {
  name: string;
  body: string;
  secret: string;
  signing_secrets?: string[];
  webhook_id: string;
  webhook_timestamp: string;
  webhook_signature: string;
  x_agentfactory_signature: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const vectors = (
  JSON.parse(
    readFileSync(resolve(here, '../../../packages/webhooks/test/fixtures/signatures.json'), 'utf8'),
  ) as {
    cases: Vector[];
  }
).cases;

describe('engine: shared signature vectors', () => {
  let h: Harness | undefined;
  let rx: Receiver | undefined;
  afterEach(async () => {
    await h?.close();
    await rx?.close();
    h = undefined;
    rx = undefined;
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
    h = await createHarness();
    rx = await startReceiver();
    const at = Number(v.webhook_timestamp) * 1000 + 500;
    h.clock.frozenAt = at;
    const [newest, older] = v.signing_secrets ?? [v.secret];
    await h.webhook({
      url: rx.url,
      secret: newest!,
      ...(older
        ? { previousSecretEnc: h.cipher.encrypt(older), previousSecretExpiresAt: at + 60_000 }
        : {}),
    });
    const event = (JSON.parse(v.body) as { event: string }).event;
    const [r] = await h.store.insertEvents(
      h.accountId,
      [{ id: v.webhook_id, event, timestamp: at, body: v.body }],
      at,
    );
    expect(r?.status).toBe('created');
    h.engine.start();
    const [req] = await rx.waitFor(1);
    expect(req!.body).toBe(v.body);
    expect(req!.headers).toMatchObject({
      'webhook-id': v.webhook_id,
      'webhook-timestamp': v.webhook_timestamp,
      'webhook-signature': v.webhook_signature,
      'x-agentfactory-timestamp': v.webhook_timestamp,
      'x-agentfactory-signature': v.x_agentfactory_signature,
    });
  });
});
