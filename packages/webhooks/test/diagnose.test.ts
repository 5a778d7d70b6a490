/**
 * diagnoseRequest: requests signed by the SDK (`generateTestHeaders`, `signPayload`), then
 * damaged the way receivers and proxies damage them; each verdict agrees with constructEvent,
 * and each cause says which mistake it was.
 */
import { describe, expect, it } from 'vitest';
import {
  constructEvent,
  type DiagnoseInput,
  diagnoseRequest,
  generateTestHeaders,
  signPayload,
  WebhookVerificationError,
} from '../src/index.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER = 'whsec_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
const T = 1_705_314_600;
const NOW = T * 1000;

async function request(secret: string | string[] = SECRET, timestamp = T) {
  return generateTestHeaders('conversation.message', secret, {
    id: 'evt_diag_1',
    timestamp,
    now: () => NOW,
  });
}

/** Diagnoses, and checks that the verdict and code are constructEvent's. */
async function diagnose(input: Omit<DiagnoseInput, 'now'> & { now?: number }) {
  const d = await diagnoseRequest({ now: NOW, ...input });
  const sdk = await constructEvent(input.body, input.headers, input.secret, {
    now: () => input.now ?? NOW,
    toleranceSeconds: input.toleranceSeconds,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (sdk === undefined) expect(d.verified).toBe(true);
  else {
    expect(sdk).toBeInstanceOf(WebhookVerificationError);
    expect(d.verified).toBe(false);
    expect(d.code).toBe((sdk as WebhookVerificationError).code);
    expect(d.cause).toBeTruthy();
    expect(d.fix).toBeTruthy();
  }
  return d;
}

function without(headers: Record<string, string>, ...names: string[]) {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !names.includes(k)));
}

describe('diagnoseRequest: verified requests', () => {
  it('a correct request: both schemes ok, the envelope read back', async () => {
    const { body, headers } = await request();
    const d = await diagnose({ body, headers, secret: SECRET });
    expect(d).toMatchObject({
      verified: true,
      scheme: 'standard',
      standard: { ok: true, present: true, secretIndex: 0 },
      body: { ok: true, present: true, secretIndex: 0 },
      event: { id: 'evt_diag_1', event: 'conversation.message' },
    });
    expect(d.code).toBeUndefined();
    expect(d.event?.data).toMatchObject({ conversation_id: expect.any(String) });
  });

  it('during a rotation: with either secret, and says which one matched', async () => {
    const { body, headers } = await request([OTHER, SECRET]);
    expect((await diagnose({ body, headers, secret: SECRET })).verified).toBe(true);
    const d = await diagnose({
      body,
      headers: new Headers(headers),
      secret: ['whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', SECRET],
    });
    expect(d.standard.secretIndex).toBe(1);
    expect(d.body.secretIndex).toBe(1);
  });

  it('body signature only: verified by it, the standard scheme absent', async () => {
    const { body, headers } = await request();
    const d = await diagnose({
      body,
      headers: without(headers, 'webhook-id', 'webhook-timestamp', 'webhook-signature'),
      secret: SECRET,
    });
    expect(d).toMatchObject({ verified: true, scheme: 'body', body: { ok: true } });
    expect(d.standard).toMatchObject({ ok: false, present: false, code: 'missing_header' });
    expect(d.standard.cause).toMatch(/no replay protection/);
  });
});

describe('diagnoseRequest: missing headers', () => {
  it('none at all, and none of Agent Factory: is it from Agent Factory?', async () => {
    const { body } = await request();
    const d = await diagnose({ body, headers: { 'user-agent': 'curl/8.5.0' }, secret: SECRET });
    expect(d.code).toBe('missing_header');
    expect(d.cause).toMatch(/No signature header came/);
    expect(d.cause).toContain('curl/8.5.0');
    expect(d.cause).toMatch(/is this request from Agent Factory/);
  });

  it('the signature headers gone but the others here: stripped on the way', async () => {
    const { body, headers } = await request();
    const d = await diagnose({
      body,
      headers: without(
        headers,
        'webhook-id',
        'webhook-timestamp',
        'webhook-signature',
        'x-agentfactory-signature',
      ),
      secret: SECRET,
    });
    expect(d.code).toBe('missing_header');
    expect(d.cause).toMatch(/stripped on the way/);
    expect(d.cause).toMatch(/proxy/);
  });

  it('one webhook-* header missing: names it, and notes the body signature alone verifies', async () => {
    const { body, headers } = await request();
    const d = await diagnose({
      body,
      headers: without(headers, 'webhook-signature'),
      secret: SECRET,
    });
    expect(d).toMatchObject({ code: 'missing_header', scheme: 'standard', body: { ok: true } });
    expect(d.cause).toMatch(
      /^webhook-signature is missing, while webhook-id and webhook-timestamp came/,
    );
    expect(d.cause).toMatch(/X-AgentFactory-Signature alone verifies/);
  });
});

describe('diagnoseRequest: signature formats', () => {
  it('X-AgentFactory-Signature without sha256=: a bare digest that would match', async () => {
    const { body, headers } = await request();
    const bodyOnly = without(headers, 'webhook-id', 'webhook-timestamp', 'webhook-signature');
    bodyOnly['x-agentfactory-signature'] = headers['x-agentfactory-signature']!.slice(7);
    const d = await diagnose({ body, headers: bodyOnly, secret: SECRET });
    expect(d.code).toBe('invalid_signature_format');
    expect(d.cause).toMatch(/bare hex digest, without the "sha256=" prefix/);
    expect(d.cause).toMatch(/digest itself matches/);
    expect(d.fix).toMatch(/compare the whole value including sha256=/);
  });

  it('X-AgentFactory-Signature in base64, with SHA-1, or a v1 value', async () => {
    const { body, headers } = await request();
    const bodyOnly = without(headers, 'webhook-id', 'webhook-timestamp', 'webhook-signature');
    const hex = headers['x-agentfactory-signature']!.slice(7);
    const b64 = btoa(String.fromCharCode(...hex.match(/../g)!.map((h) => Number.parseInt(h, 16))));
    const cases: [string, RegExp][] = [
      [`sha256=${b64}`, /digest is base64; it is hex.*matches this body/],
      [`sha1=${hex.slice(0, 40)}`, /uses sha1/],
      [headers['webhook-signature']!, /belongs in webhook-signature/],
      [`sha256=${hex.slice(0, 40)}`, /40 hex digits instead of 64/],
    ];
    for (const [value, cause] of cases) {
      const d = await diagnose({
        body,
        headers: { ...bodyOnly, 'x-agentfactory-signature': value },
        secret: SECRET,
      });
      expect(d.code, value).toBe('invalid_signature_format');
      expect(d.cause, value).toMatch(cause);
    }
  });

  it('webhook-signature without v1, or with commas between entries', async () => {
    const { body, headers } = await request([SECRET, OTHER]);
    const [a, b] = headers['webhook-signature']!.split(' ');
    const bare = await diagnose({
      body,
      headers: { ...headers, 'webhook-signature': a!.slice(3) },
      secret: SECRET,
    });
    expect(bare.code).toBe('invalid_signature_format');
    expect(bare.cause).toMatch(/without the "v1," prefix.*matches this request/);
    const commas = await diagnose({
      body,
      headers: { ...headers, 'webhook-signature': `${a},${b}` },
      secret: OTHER,
    });
    expect(commas.code).toBe('invalid_signature_format');
    expect(commas.cause).toMatch(/separated by commas; they are separated by spaces.*matches/);
  });
});

describe('diagnoseRequest: the secret', () => {
  it('a trailing newline: invalid_secret, and trimmed it matches', async () => {
    const { body, headers } = await request();
    const d = await diagnose({ body, headers, secret: `${SECRET}\n` });
    expect(d.code).toBe('invalid_secret');
    expect(d.cause).toMatch(/has a newline around it; trimmed, it matches/);
    expect(d.standard.code).toBe('invalid_secret');
    expect(d.body.code).toBe('invalid_secret');
  });

  it('the whsec_ prefix missing', async () => {
    const { body, headers } = await request();
    const d = await diagnose({ body, headers, secret: SECRET.slice('whsec_'.length) });
    expect(d.code).toBe('signature_mismatch');
    expect(d.cause).toMatch(/lacks the "whsec_" prefix: with it, it matches/);
    expect(d.body.cause).toBe(d.standard.cause);
  });

  it('a whsec_ prefix added to a secret of your own (valid base64 or not)', async () => {
    for (const own of ['abcdefghijklmnopqrstuvwx', 'my-own-secret-0123456789']) {
      const { body, headers } = await request(own);
      const d = await diagnose({ body, headers, secret: `whsec_${own}` });
      expect(d.code).toBe(own.includes('-') ? 'invalid_secret' : 'signature_mismatch');
      expect(d.cause).toMatch(/starts with "whsec_", but the sender's secret does not/);
    }
  });

  it("quoted, base64-encoded (with echo's newline), hex, URL-safe", async () => {
    const key = new Uint8Array(24).fill(0xfb); // base64 "+/v7…": URL-safe differs
    const secret = `whsec_${btoa(String.fromCharCode(...key))}`;
    const { body, headers } = await request(secret);
    const hex = [...key].map((b) => b.toString(16).padStart(2, '0')).join('');
    const cases: [string, RegExp][] = [
      [`"${secret}"`, /wrapped in quotes/],
      [btoa(`${secret}\n`), /base64 encoding of the sender's secret/],
      [hex, /holds the key in hex/],
      [`whsec_${hex}`, /holds the key in hex/],
      [secret.replace(/\+/g, '-').replace(/\//g, '_'), /URL-safe base64 alphabet/],
    ];
    for (const [wrong, cause] of cases) {
      const d = await diagnose({ body, headers, secret: wrong });
      expect(d.verified, wrong).toBe(false);
      expect(d.cause, wrong).toMatch(cause);
    }
  });

  it('another secret: no variant matches; during a rotation says so', async () => {
    const { body, headers } = await request();
    const d = await diagnose({ body, headers, secret: OTHER });
    expect(d.code).toBe('signature_mismatch');
    expect(d.cause).toMatch(
      /none of the usual mistakes explains it.*previous one after a rotation/,
    );
    expect(d.fix).toMatch(/GET \/v1\/webhooks\/\{id\}\/secret/);
    const rotating = await request([SECRET, 'whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']);
    const r = await diagnose({ body: rotating.body, headers: rotating.headers, secret: OTHER });
    expect(r.cause).toMatch(/carries 2 signatures: the webhook's secret is being rotated/);
  });
});

describe('diagnoseRequest: the body', () => {
  it('re-serialized, pretty-printed, Python separators: says how', async () => {
    const { body, headers, event } = await request();
    const cases: [string, RegExp][] = [
      [JSON.stringify(event, null, 2), /as compact JSON/],
      [`${body}\n`, /without its trailing newline/],
      [body.replace(/,"/g, ', "').replace(/":/g, '": '), /as compact JSON/],
    ];
    for (const [changed, how] of cases) {
      const d = await diagnose({ body: changed, headers, secret: SECRET });
      expect(d.code).toBe('signature_mismatch');
      expect(d.cause).toMatch(/The body was changed between the sender and this receiver/);
      expect(d.cause).toMatch(how);
      expect(d.fix).toMatch(/raw bytes/);
      expect(d.body.cause).toBe(d.cause);
    }
  });

  it('a sender that pretty-prints or uses Python separators, a receiver that compacts', async () => {
    const event = { id: 'evt_2', event: 'agent.created', data: { a: [1, 2], b: 'é' } };
    const signs: [string, RegExp][] = [
      [JSON.stringify(event, null, 4), /pretty-printed with 4 spaces/],
      [JSON.stringify(event, null, 2), /pretty-printed with 2 spaces/],
      ['{"id": "evt_2", "event": "agent.created", "data": {"a": [1, 2], "b": "é"}}', /Python/],
    ];
    for (const [sent, how] of signs) {
      const headers = await signPayload({ body: sent, secret: SECRET, id: 'evt_2', timestamp: T });
      const d = await diagnose({ body: JSON.stringify(event), headers, secret: SECRET });
      expect(d.cause, sent).toMatch(how);
    }
  });

  it('line endings: CRLF and LF, a trailing newline removed', async () => {
    const lf = `${JSON.stringify({ id: 'evt_3', event: 'x', data: {} }, null, 2)}\n`;
    const headers = await signPayload({ body: lf, secret: SECRET, id: 'evt_3', timestamp: T });
    const crlf = await diagnose({ body: lf.replace(/\n/g, '\r\n'), headers, secret: SECRET });
    expect(crlf.cause).toMatch(/converted to CRLF|trailing newline/);
    const chopped = await diagnose({ body: lf.slice(0, -1), headers, secret: SECRET });
    expect(chopped.cause).toMatch(/with a trailing newline, which was removed/);
    const crlfSigned = lf.replace(/\n/g, '\r\n').slice(0, -2);
    const h2 = await signPayload({ body: crlfSigned, secret: SECRET, id: 'evt_3', timestamp: T });
    const toLf = await diagnose({ body: lf.slice(0, -1), headers: h2, secret: SECRET });
    expect(toLf.cause).toMatch(/with CRLF line endings, which were converted to LF/);
  });

  it('an empty body, "[object Object]", a body that is not an envelope', async () => {
    const { headers } = await request();
    expect((await diagnose({ body: '', headers, secret: SECRET })).cause).toMatch(/body is empty/);
    expect((await diagnose({ body: '[object Object]', headers, secret: SECRET })).cause).toMatch(
      /"\[object Object\]"/,
    );
    const notEnvelope = '{"hello":"world"}';
    const h = await signPayload({ body: notEnvelope, secret: SECRET, id: 'evt_4', timestamp: T });
    const d = await diagnose({ body: notEnvelope, headers: h, secret: SECRET });
    expect(d).toMatchObject({
      verified: false,
      code: 'invalid_payload',
      standard: { ok: true },
      body: { ok: true },
    });
    expect(d.cause).toMatch(/signature is valid, but the body is not an event envelope/);
  });

  it('a parsed object instead of the raw body', async () => {
    const { headers, event } = await request();
    const d = await diagnoseRequest({ body: event as never, headers, secret: SECRET, now: NOW });
    expect(d).toMatchObject({ verified: false, code: 'body_already_parsed' });
  });
});

describe('diagnoseRequest: timestamps and headers', () => {
  it('too old: by how much, replay or clock skew, signature otherwise valid', async () => {
    const { body, headers } = await request(SECRET, T - 7 * 60 - 5);
    const d = await diagnose({ body, headers, secret: SECRET });
    expect(d.code).toBe('timestamp_too_old');
    expect(d.cause).toMatch(/is 7 min 5 s old, beyond the 5 min tolerance/);
    expect(d.cause).toMatch(/replay/);
    expect(d.cause).toMatch(/Its signature is otherwise valid/);
    expect(d.cause).not.toMatch(/time-zone/);
    expect(d.fix).toMatch(/NTP/);
    expect(d.body.ok).toBe(true);
  });

  it('too old by an hour: a time-zone hint; and a bad signature is told too', async () => {
    const { body, headers } = await request(SECRET, T - 3600);
    const d = await diagnose({ body, headers, secret: SECRET.slice(6) });
    expect(d.code).toBe('timestamp_too_old');
    expect(d.cause).toMatch(/1 h old/);
    expect(d.cause).toMatch(/almost exactly 1 h suggests a time-zone mistake/);
    expect(d.cause).toMatch(/does not match either: .*lacks the "whsec_" prefix/);
  });

  it('too new: by how much and the clocks; milliseconds instead of seconds', async () => {
    const { body, headers } = await request(SECRET, T + 600);
    const d = await diagnose({ body, headers, secret: SECRET });
    expect(d.code).toBe('timestamp_too_new');
    expect(d.cause).toMatch(/10 min in the future/);
    expect(d.fix).toMatch(/clock/);
    const ms = await request(SECRET, T * 1000);
    const m = await diagnose({ body: ms.body, headers: ms.headers, secret: SECRET });
    expect(m.code).toBe('timestamp_too_new');
    expect(m.cause).toMatch(/looks like milliseconds/);
  });

  it('an invalid timestamp: a date, a fraction', async () => {
    const { body, headers } = await request();
    for (const [value, what] of [
      ['2024-01-15T10:30:00Z', /is a date \(ISO 8601\)/],
      ['1705314600.5', /fractional part/],
      ['soon', /not unix seconds/],
    ] as const) {
      const d = await diagnose({
        body,
        headers: { ...headers, 'webhook-timestamp': value },
        secret: SECRET,
      });
      expect(d.code).toBe('invalid_timestamp');
      expect(d.cause).toMatch(what);
    }
  });

  it('webhook-id changed on the way: the signature matches the event id', async () => {
    const { body, headers } = await request();
    const d = await diagnose({
      body,
      headers: { ...headers, 'webhook-id': 'msg_rewritten' },
      secret: SECRET,
    });
    expect(d.code).toBe('signature_mismatch');
    expect(d.cause).toMatch(
      /webhook-id \("msg_rewritten"\) was changed: the signature matches with the event's id "evt_diag_1"/,
    );
  });

  it('a tolerance of its own', async () => {
    const { body, headers } = await request(SECRET, T - 600);
    const d = await diagnose({ body, headers, secret: SECRET, toleranceSeconds: 900 });
    expect(d.verified).toBe(true);
  });
});
