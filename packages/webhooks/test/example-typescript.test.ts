import { once } from 'node:events';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver } from '../examples/typescript/receiver.js';
import { generateTestHeaders, signPayload } from '../src/index.js';
import { baseUrl } from './adapters/helpers.js';

const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const PREVIOUS = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
let server: Server | undefined;
afterEach(() => server?.close());

describe('examples/typescript/receiver.ts works as written', () => {
  it('handles, dedupes and refuses on a live server', async () => {
    const lines: string[] = [];
    server = createReceiver([SECRET, PREVIOUS], (line) => lines.push(line));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `${baseUrl(server.address())}/webhooks`;
    const post = async (body: string, headers: Record<string, string>) =>
      (await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(5000) }))
        .status;

    const message = await generateTestHeaders('conversation.message', SECRET);
    expect(await post(message.body, message.headers)).toBe(200);
    expect(await post(message.body, message.headers)).toBe(200); // a copy: not handled again
    const deployed = await generateTestHeaders('agent.deployed', PREVIOUS);
    expect(await post(deployed.body, deployed.headers)).toBe(200);
    const forged = await signPayload({
      body: message.body,
      secret: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      id: message.event.id,
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(await post(message.body, forged)).toBe(401);
    expect(lines).toEqual([
      'agent said "Hello, how can I help you?" in conv_789',
      `received conversation.message ${message.event.id}`,
      'agent.deployed: agent_123 in production',
      `received agent.deployed ${deployed.event.id}`,
      'verification error: WebhookVerificationError: No v1 signature in webhook-signature matches under the configured secret(s). Check the secret and that the body is the raw bytes received, not re-serialized JSON.',
    ]);
  });
});

describe('examples/typescript/without-sdk.ts', () => {
  it('accepts every vector, the rotation header with either secret, and refuses a bare digest', async () => {
    const { isValidSignature } = await import('../examples/typescript/without-sdk.js');
    const { readFileSync } = await import('node:fs');
    const vectors: {
      cases: {
        body: string;
        secret: string;
        signing_secrets?: string[];
        x_agentfactory_signature: string;
      }[];
    } = JSON.parse(readFileSync(new URL('./fixtures/signatures.json', import.meta.url), 'utf8'));
    for (const c of vectors.cases) {
      for (const secret of c.signing_secrets ?? [c.secret]) {
        expect(isValidSignature(c.body, c.x_agentfactory_signature, secret)).toBe(true);
      }
      expect(isValidSignature(c.body, c.x_agentfactory_signature, 'wrong')).toBe(false);
      const bare = c.x_agentfactory_signature.split(',')[0]!.slice('sha256='.length);
      expect(isValidSignature(c.body, bare, c.secret)).toBe(false);
    }
  });
});
