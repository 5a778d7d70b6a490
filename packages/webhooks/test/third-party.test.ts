import { verify as octokitVerify } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateTestHeaders, signPayload, verifyStandardWebhook } from '../src/index.js';

const GENERATED = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEXT = 'whsec_9Yx2kQ0c3oPZ1r7T8uVwXyZ0aBcDeFgHiJkLmNoPqRs=';
const CUSTOM = 'my_own_secret_value_42';
const BODY = JSON.stringify({
  id: 'evt_3p',
  event: 'agent.created',
  timestamp: '2024-01-15T10:30:00Z',
  data: { agent_id: 'a', agent_name: 'Grüße 👋', user_id: 'u', created_at: '2024-01-15T10:30:00Z' },
});
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('the standardwebhooks npm library verifies what signPayload produces', () => {
  it('with a generated whsec_ secret', async () => {
    const headers = await signPayload({
      body: BODY,
      secret: GENERATED,
      id: 'evt_3p',
      timestamp: nowSeconds(),
    });
    expect(new Webhook(GENERATED).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it('with a customer-chosen secret, passed to it as raw bytes', async () => {
    const headers = await signPayload({
      body: BODY,
      secret: CUSTOM,
      id: 'e',
      timestamp: nowSeconds(),
    });
    const raw = new TextEncoder().encode(CUSTOM);
    expect(new Webhook(raw, { format: 'raw' }).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it('during a rotation, holding either secret', async () => {
    const headers = await signPayload({
      body: BODY,
      secret: [NEXT, GENERATED],
      id: 'evt_3p',
      timestamp: nowSeconds(),
    });
    expect(new Webhook(GENERATED).verify(BODY, headers)).toBeTruthy();
    expect(new Webhook(NEXT).verify(BODY, headers)).toBeTruthy();
  });

  it('refuses a wrong secret, and its own signatures pass verifyStandardWebhook', async () => {
    const headers = await signPayload({
      body: BODY,
      secret: GENERATED,
      id: 'x',
      timestamp: nowSeconds(),
    });
    expect(() => new Webhook(NEXT).verify(BODY, headers)).toThrow();
    const at = new Date();
    const signature = new Webhook(GENERATED).sign('msg_1', at, BODY);
    await verifyStandardWebhook(
      BODY,
      {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      },
      GENERATED,
    );
  });

  it('verifies a generateTestHeaders request', async () => {
    const { body, headers } = await generateTestHeaders('conversation.message', GENERATED);
    expect(new Webhook(GENERATED).verify(body, headers)).toMatchObject({
      event: 'conversation.message',
    });
  });
});

describe("@octokit/webhooks-methods' verify accepts the sha256= header", () => {
  for (const secret of [GENERATED, CUSTOM]) {
    it(`with ${secret === CUSTOM ? 'a customer-chosen' : 'a generated'} secret`, async () => {
      const headers = await signPayload({ body: BODY, secret, id: 'e', timestamp: nowSeconds() });
      expect(await octokitVerify(secret, BODY, headers['x-agentfactory-signature'])).toBe(true);
      expect(
        await octokitVerify('wrong-secret-value', BODY, headers['x-agentfactory-signature']),
      ).toBe(false);
    });
  }

  it('during a rotation only after splitting the header on commas (what the docs show)', async () => {
    const headers = await signPayload({
      body: BODY,
      secret: [NEXT, GENERATED],
      id: 'e',
      timestamp: 1,
    });
    const header = headers['x-agentfactory-signature'];
    // Comparing the whole header fails during the grace period…
    expect(await octokitVerify(GENERATED, BODY, header)).toBe(false);
    // …checking each comma-separated signature works with either secret.
    for (const secret of [GENERATED, NEXT]) {
      const results = await Promise.all(
        header.split(',').map((sig) => octokitVerify(secret, BODY, sig.trim())),
      );
      expect(results.some(Boolean)).toBe(true);
    }
  });
});
