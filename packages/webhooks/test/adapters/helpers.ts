import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { generateTestHeaders, signPayload, Webhooks } from '../../src/index.js';

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A Webhooks instance that records the ids it handled; ids in `fail` make the handler throw. */
export function recordingWebhooks(fail: ReadonlySet<string> = new Set()) {
  const handled: string[] = [];
  const webhooks = new Webhooks({ secret: SECRET }).onAny((event) => {
    if (fail.has(event.id)) throw new Error('handler failed');
    handled.push(event.id);
  });
  return { webhooks, handled };
}

export function baseUrl(address: AddressInfo | string | null): string {
  if (!address || typeof address === 'string') throw new Error('not listening on TCP');
  return `http://127.0.0.1:${address.port}`;
}

export interface Reply {
  status: number;
  headers: Headers;
  json: { ok?: boolean; error?: { code: string; message: string } };
}

/** Sends with a 5 s cap, so a hanging adapter fails the test instead of stalling it. */
export async function send(
  url: string,
  body: string | Uint8Array | null,
  headers: Record<string, string>,
  method = 'POST',
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    body: body as BodyInit | null,
    headers,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : {} };
}

/**
 * The cases every adapter must pass against a live server at `url`: a signed delivery with
 * non-ASCII text (raw bytes must survive) → 200 and handled; a bad signature → 401; no
 * signature → 401; a signed body that is not JSON → 400; a failing handler → 500.
 * Expects `handled` to come from {@link recordingWebhooks} with `evt_fail` in its fail set.
 */
export async function expectCommonCases(url: string, handled: string[]): Promise<void> {
  const good = await generateTestHeaders(
    {
      id: 'evt_good',
      event: 'conversation.message',
      timestamp: '2024-01-15T10:35:00Z',
      data: {
        conversation_id: 'c',
        agent_id: 'a',
        message_id: 'm',
        message: 'Grüße, 你好 👋',
        user_id: 'u',
        timestamp: '2024-01-15T10:35:00Z',
      },
    },
    SECRET,
  );
  const ok = await send(url, good.body, good.headers);
  expect(ok.status).toBe(200);
  expect(ok.json).toEqual({ ok: true });
  expect(handled).toEqual(['evt_good']);

  const forged = { ...good.headers, 'webhook-signature': `v1,${btoa('x'.repeat(32))}` };
  const bad = await send(url, good.body, forged);
  expect(bad.status).toBe(401);
  expect(bad.json.error?.code).toBe('signature_mismatch');

  const unsigned = await send(url, good.body, { 'content-type': 'application/json' });
  expect(unsigned.status).toBe(401);
  expect(unsigned.json.error?.code).toBe('missing_header');

  const timestamp = Math.floor(Date.now() / 1000);
  const notJson = await signPayload({ body: 'not json', secret: SECRET, id: 'evt_x', timestamp });
  const invalid = await send(url, 'not json', { 'content-type': 'application/json', ...notJson });
  expect(invalid.status).toBe(400);
  expect(invalid.json.error?.code).toBe('invalid_payload');

  const failing = await generateTestHeaders('agent.created', SECRET, { id: 'evt_fail' });
  const failed = await send(url, failing.body, failing.headers);
  expect(failed.status).toBe(500);
  expect(handled).toEqual(['evt_good']);
}

export const FAIL = new Set(['evt_fail']);
