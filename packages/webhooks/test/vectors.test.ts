import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { signPayload } from '../src/index.js';

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
