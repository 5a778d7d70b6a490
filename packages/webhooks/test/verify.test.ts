import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  constructEvent,
  signPayload,
  type VerificationErrorCode,
  verificationErrorCodes,
  verifySignature,
  verifyStandardWebhook,
  WebhookVerificationError,
} from '../src/index.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const T = 1_705_314_600;
const now = () => T * 1000;
const BODY = JSON.stringify({
  id: 'evt_1',
  event: 'agent.created',
  timestamp: '2024-01-15T10:30:00Z',
  data: { agent_id: 'a', agent_name: 'n', user_id: 'u', created_at: '2024-01-15T10:30:00Z' },
});

async function signed(body = BODY, timestamp = T, secret: string | string[] = SECRET) {
  return signPayload({ body, secret, id: 'evt_1', timestamp });
}

const seen = new Set<VerificationErrorCode>();
async function expectCode(promise: Promise<unknown>, code: VerificationErrorCode) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  expect((error as WebhookVerificationError).code).toBe(code);
  expect((error as WebhookVerificationError).name).toBe('WebhookVerificationError');
  seen.add(code);
  return error as WebhookVerificationError;
}

describe('verifyStandardWebhook', () => {
  it('accepts within the tolerance on both sides, refuses beyond it (injected clock)', async () => {
    const headers = await signed();
    for (const offset of [-300, -1, 0, 1, 300]) {
      await expect(
        verifyStandardWebhook(BODY, headers, SECRET, { now: () => (T + offset) * 1000 }),
      ).resolves.toBeUndefined();
    }
    const old = await expectCode(
      verifyStandardWebhook(BODY, headers, SECRET, { now: () => (T + 301) * 1000 }),
      'timestamp_too_old',
    );
    expect(old.status).toBe(401);
    expect(old.message).toContain('301 s old');
    await expectCode(
      verifyStandardWebhook(BODY, headers, SECRET, { now: () => (T - 301) * 1000 }),
      'timestamp_too_new',
    );
    await expect(
      verifyStandardWebhook(BODY, headers, SECRET, {
        now: () => (T + 3600) * 1000,
        toleranceSeconds: 3600,
      }),
    ).resolves.toBeUndefined();
  });

  it('a retry signed 12 h later passes with its own timestamp', async () => {
    const later = T + 12 * 3600;
    const headers = await signed(BODY, later);
    await expect(
      verifyStandardWebhook(BODY, headers, SECRET, { now: () => later * 1000 }),
    ).resolves.toBeUndefined();
  });

  it('reads headers from Headers, IncomingHttpHeaders (arrays too) and any-case objects', async () => {
    const headers = await signed(BODY, T, [
      'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      SECRET,
    ]);
    await verifyStandardWebhook(BODY, new Headers({ ...headers }), SECRET, { now });
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    await verifyStandardWebhook(BODY, upper, SECRET, { now });
    const [first, second] = headers['webhook-signature'].split(' ');
    const node: IncomingHttpHeaders = { ...headers, 'webhook-signature': [first!, second!] };
    await verifyStandardWebhook(BODY, node, SECRET, { now });
    // A header sent twice reads through Headers as "v1,a, v1,b".
    const repeated = new Headers({ ...headers, 'webhook-signature': second! });
    repeated.append('webhook-signature', first!);
    expect(repeated.get('webhook-signature')).toBe(`${second}, ${first}`);
    await verifyStandardWebhook(BODY, repeated, SECRET, { now });
    const otherSecretOnly = new Headers({ ...headers, 'webhook-signature': first! });
    await expectCode(
      verifyStandardWebhook(BODY, otherSecretOnly, SECRET, { now }),
      'signature_mismatch',
    );
  });

  it('ignores signature schemes it does not know, next to a valid v1', async () => {
    const headers = await signed();
    const sig = `v1a,abc ${headers['webhook-signature']}`;
    await expect(
      verifyStandardWebhook(BODY, { ...headers, 'webhook-signature': sig }, SECRET, { now }),
    ).resolves.toBeUndefined();
    // The unknown scheme alone verifies nothing: there is no signature it can read.
    await expectCode(
      verifyStandardWebhook(BODY, { ...headers, 'webhook-signature': 'v1a,abc' }, SECRET, { now }),
      'invalid_signature_format',
    );
  });

  it('missing_header names each missing header', async () => {
    const { 'webhook-timestamp': _t, ...rest } = await signed();
    const error = await expectCode(
      verifyStandardWebhook(BODY, rest, SECRET, { now }),
      'missing_header',
    );
    expect(error.message).toContain('webhook-timestamp');
    await expectCode(verifyStandardWebhook(BODY, {}, SECRET, { now }), 'missing_header');
  });

  it('invalid_timestamp for anything but unix seconds', async () => {
    const headers = await signed();
    for (const bad of ['2024-01-15T10:30:00Z', '1705314600.5', '-1', 'abc']) {
      await expectCode(
        verifyStandardWebhook(BODY, { ...headers, 'webhook-timestamp': bad }, SECRET, { now }),
        'invalid_timestamp',
      );
    }
  });

  it('invalid_signature_format when no entry is v1,<base64 of 32 bytes>', async () => {
    const headers = await signed();
    for (const bad of ['sha256=abc', 'v1,not base64!', 'v1,AAAA', 'v2,abc']) {
      await expectCode(
        verifyStandardWebhook(BODY, { ...headers, 'webhook-signature': bad }, SECRET, { now }),
        'invalid_signature_format',
      );
    }
  });

  it('signature_mismatch when the id, timestamp or body differ from what was signed', async () => {
    const headers = await signed();
    await expectCode(
      verifyStandardWebhook(BODY, { ...headers, 'webhook-id': 'evt_2' }, SECRET, { now }),
      'signature_mismatch',
    );
    await expectCode(
      verifyStandardWebhook(BODY, { ...headers, 'webhook-timestamp': String(T + 1) }, SECRET, {
        now,
      }),
      'signature_mismatch',
    );
    await expectCode(
      verifyStandardWebhook(`${BODY}\n`, headers, SECRET, { now }),
      'signature_mismatch',
    );
  });
});

describe('verifySignature', () => {
  it('accepts the header, several comma-separated (rotation), any hex case', async () => {
    const { 'x-agentfactory-signature': sig } = await signed();
    expect(await verifySignature(BODY, sig, SECRET)).toBe(true);
    expect(await verifySignature(BODY, sig.toUpperCase().replace('SHA256', 'sha256'), SECRET)).toBe(
      true,
    );
    expect(await verifySignature(BODY, `sha256=${'0'.repeat(64)}, ${sig}`, SECRET)).toBe(true);
    expect(await verifySignature(BODY, [sig], SECRET)).toBe(true);
  });

  it('answers false for a missing, malformed or wrong header', async () => {
    const { 'x-agentfactory-signature': sig } = await signed();
    expect(await verifySignature(BODY, undefined, SECRET)).toBe(false);
    expect(await verifySignature(BODY, '', SECRET)).toBe(false);
    // The common mistake: comparing the bare hex digest with the whole header, or the reverse.
    expect(await verifySignature(BODY, sig.slice('sha256='.length), SECRET)).toBe(false);
    expect(await verifySignature(BODY, `sha256=${'0'.repeat(64)}`, SECRET)).toBe(false);
    expect(await verifySignature(BODY, sig, 'another_secret_value')).toBe(false);
  });
});

describe('constructEvent', () => {
  it('prefers the Standard Webhooks headers, so their timestamp is checked', async () => {
    const headers = await signed();
    await expectCode(
      constructEvent(BODY, headers, SECRET, { now: () => (T + 3600) * 1000 }),
      'timestamp_too_old',
    );
    const event = await constructEvent(BODY, headers, SECRET, { now });
    expect(event.event).toBe('agent.created');
    if (event.event === 'agent.created') expect(event.data.agent_name).toBe('n');
  });

  it('falls back to the body signature unless requireTimestamp', async () => {
    const { 'x-agentfactory-signature': sig } = await signed();
    const event = await constructEvent(BODY, { 'x-agentfactory-signature': sig }, SECRET);
    expect(event.id).toBe('evt_1');
    const error = await expectCode(
      constructEvent(BODY, { 'x-agentfactory-signature': sig }, SECRET, {
        requireTimestamp: true,
      }),
      'missing_header',
    );
    expect(error.message).toContain('requireTimestamp');
    await expectCode(constructEvent(BODY, {}, SECRET), 'missing_header');
    await expectCode(
      constructEvent(BODY, { 'x-agentfactory-signature': 'md5=abc' }, SECRET),
      'invalid_signature_format',
    );
    await expectCode(
      constructEvent(BODY, { 'x-agentfactory-signature': `sha256=${'a'.repeat(64)}` }, SECRET),
      'signature_mismatch',
    );
  });

  it('passes unknown event types and fields through without schema validation', async () => {
    const body = JSON.stringify({
      id: 'evt_9',
      event: 'agent.teleported',
      timestamp: '2030-01-01T00:00:00Z',
      data: { new_field: 1 },
    });
    const event = await constructEvent(body, await signed(body), SECRET, { now });
    expect(event as unknown).toEqual(JSON.parse(body));
  });

  it('invalid_payload (400) for a signed body that is not an event envelope', async () => {
    for (const body of ['not json', '[1,2]', '{"id":"evt_1","event":"x"}', '\u00ff']) {
      const bytes = body === '\u00ff' ? new Uint8Array([0xff, 0xfe]) : body;
      const headers = await signed(typeof bytes === 'string' ? bytes : 'x', T);
      const error = await expectCode(
        constructEvent(
          bytes,
          typeof bytes === 'string'
            ? headers
            : await signPayload({ body: bytes, secret: SECRET, id: 'evt_1', timestamp: T }),
          SECRET,
          { now },
        ),
        'invalid_payload',
      );
      expect(error.status).toBe(400);
    }
    await expectCode(constructEvent(undefined as unknown as string, {}, SECRET), 'invalid_payload');
  });

  it('body_already_parsed names the fix for Express, Fastify and Next.js', async () => {
    const parsed = JSON.parse(BODY) as unknown as string;
    for (const call of [
      () => constructEvent(parsed, {}, SECRET),
      () => verifyStandardWebhook(parsed, {}, SECRET),
      () => verifySignature(parsed, 'sha256=x', SECRET),
    ]) {
      const error = await expectCode(call(), 'body_already_parsed');
      expect(error.status).toBe(400);
      expect(error.message).toContain("express.raw({ type: 'application/json' })");
      expect(error.message).toContain('Fastify');
      expect(error.message).toContain('await req.text()');
    }
  });

  it('invalid_secret: empty, whitespace (with a hint), bad whsec_ base64', async () => {
    const headers = await signed();
    const trailing = await expectCode(
      constructEvent(BODY, headers, `${SECRET}\n`, { now }),
      'invalid_secret',
    );
    expect(trailing.message).toMatch(/leading or trailing whitespace.*trim/);
    expect(trailing.status).toBe(500);
    await expectCode(constructEvent(BODY, headers, 'abc def', { now }), 'invalid_secret');
    await expectCode(constructEvent(BODY, headers, '', { now }), 'invalid_secret');
    await expectCode(constructEvent(BODY, headers, [], { now }), 'invalid_secret');
    await expectCode(constructEvent(BODY, headers, 'whsec_***', { now }), 'invalid_secret');
    await expectCode(verifySignature(BODY, 'sha256=x', [' x']), 'invalid_secret');
  });

  it('a secret without whsec_ is used as UTF-8 bytes for both signatures', async () => {
    const secret = 'my-own-secret-1234567';
    const headers = await signed(BODY, T, secret);
    await expect(constructEvent(BODY, headers, secret, { now })).resolves.toMatchObject({
      id: 'evt_1',
    });
  });

  it('every error code is covered by these tests', () => {
    expect([...seen].sort()).toEqual([...verificationErrorCodes].sort());
  });
});
