import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  constructEvent,
  signPayload,
  verifySignature,
  verifyStandardWebhook,
  WebhookVerificationError,
} from '../src/index.js';

interface VectorCase {
  name: string;
  secret: string;
  signing_secrets?: string[];
  webhook_id: string;
  webhook_timestamp: string;
  body: string;
  x_agentfactory_signature: string;
  webhook_signature: string;
}

const vectors: { cases: VectorCase[] } = JSON.parse(
  readFileSync(new URL('./fixtures/signatures.json', import.meta.url), 'utf8'),
);

describe('signature vectors (fixtures/signatures.json, computed outside this code)', () => {
  it('has every case', () => {
    expect(vectors.cases.length).toBeGreaterThanOrEqual(5);
  });

  for (const c of vectors.cases) {
    it(`signPayload reproduces: ${c.name}`, async () => {
      const headers = await signPayload({
        body: c.body,
        secret: c.signing_secrets ?? c.secret,
        id: c.webhook_id,
        timestamp: Number(c.webhook_timestamp),
      });
      expect(headers['x-agentfactory-signature']).toBe(c.x_agentfactory_signature);
      expect(headers['webhook-signature']).toBe(c.webhook_signature);
      expect(headers['webhook-id']).toBe(c.webhook_id);
      expect(headers['webhook-timestamp']).toBe(c.webhook_timestamp);
    });
  }
});

/** Every secret set a receiver may hold for a case: for a rotation, old only, new only, both. */
function receiverSecrets(c: VectorCase): { label: string; secrets: string | string[] }[] {
  if (!c.signing_secrets) return [{ label: 'its secret', secrets: c.secret }];
  const [newest] = c.signing_secrets;
  return [
    { label: 'only the old secret', secrets: c.secret },
    { label: 'only the new secret', secrets: newest! },
    { label: 'both secrets', secrets: c.signing_secrets },
    { label: 'both secrets, old first', secrets: [...c.signing_secrets].reverse() },
  ];
}

describe('signature vectors through the public verification API', () => {
  for (const c of vectors.cases) {
    const now = () => Number(c.webhook_timestamp) * 1000;
    const standard = {
      'webhook-id': c.webhook_id,
      'webhook-timestamp': c.webhook_timestamp,
      'webhook-signature': c.webhook_signature,
    };
    for (const { label, secrets } of receiverSecrets(c)) {
      it(`${c.name} — a receiver holding ${label} accepts`, async () => {
        expect(await verifySignature(c.body, c.x_agentfactory_signature, secrets)).toBe(true);
        expect(
          await verifySignature(Buffer.from(c.body), c.x_agentfactory_signature, secrets),
        ).toBe(true);
        await expect(
          verifyStandardWebhook(c.body, standard, secrets, { now }),
        ).resolves.toBeUndefined();
        const event = await constructEvent(
          new TextEncoder().encode(c.body),
          { ...standard, 'x-agentfactory-signature': c.x_agentfactory_signature },
          secrets,
          { now, requireTimestamp: true },
        );
        expect(event).toEqual(JSON.parse(c.body));
        const bodyOnly = await constructEvent(
          c.body,
          { 'X-AgentFactory-Signature': c.x_agentfactory_signature },
          secrets,
        );
        expect(bodyOnly.id).toBe(JSON.parse(c.body).id);
      });
    }

    it(`${c.name} — a wrong secret or a changed byte is refused`, async () => {
      const wrong = 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
      expect(await verifySignature(c.body, c.x_agentfactory_signature, wrong)).toBe(false);
      expect(await verifySignature(`${c.body} `, c.x_agentfactory_signature, c.secret)).toBe(false);
      await expect(verifyStandardWebhook(c.body, standard, wrong, { now })).rejects.toMatchObject({
        code: 'signature_mismatch',
      });
      await expect(
        verifyStandardWebhook(c.body.replace('}', ' }'), standard, c.secret, { now }),
      ).rejects.toBeInstanceOf(WebhookVerificationError);
    });
  }
});
