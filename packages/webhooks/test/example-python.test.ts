import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTestHeaders, signPayload } from '../src/index.js';

const RECEIVER = fileURLToPath(new URL('../examples/python/receiver.py', import.meta.url));
const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const PREVIOUS = 'my_old_custom_secret_1';

let child: ChildProcess;
let url: string;
let output = '';

beforeAll(async () => {
  child = spawn('python3', [RECEIVER], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      AF_WEBHOOK_SECRET: SECRET,
      AF_WEBHOOK_PREVIOUS_SECRET: PREVIOUS,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8');
  child.stderr!.on('data', (chunk) => {
    output += String(chunk);
  });
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`receiver did not start: ${output}`)), 10_000);
    child.stdout!.on('data', (chunk: string) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}: ${output}`)));
  });
});

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
});

async function post(body: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers,
    signal: AbortSignal.timeout(5000),
  });
  await res.text();
  return res.status;
}

describe('examples/python/receiver.py, run by python3, against requests signed by signPayload', () => {
  it('accepts a signed delivery and hands it to its handler', async () => {
    const { body, headers } = await generateTestHeaders('conversation.message', SECRET);
    expect(await post(body, headers)).toBe(200);
    await expect.poll(() => output).toContain('message in conv_');
  });

  it('accepts the body signature alone, also during a rotation (split on commas)', async () => {
    const { body, event } = await generateTestHeaders('agent.created', SECRET);
    for (const secret of [
      SECRET,
      [SECRET, PREVIOUS],
      ['whsec_9Yx2kQ0c3oPZ1r7T8uVwXyZ0aBcDeFgHiJkLmNoPqRs=', PREVIOUS],
    ]) {
      const signed = await signPayload({ body, secret, id: event.id, timestamp: 1 });
      expect(
        await post(body, { 'x-agentfactory-signature': signed['x-agentfactory-signature'] }),
      ).toBe(200);
    }
  });

  it('accepts the Standard Webhooks headers signed with the previous secret only', async () => {
    const { body, headers } = await generateTestHeaders('agent.deployed', PREVIOUS);
    expect(await post(body, headers)).toBe(200);
  });

  it('refuses a wrong secret, a changed body, an old timestamp, no signature', async () => {
    const wrong = await generateTestHeaders(
      'agent.created',
      'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    );
    expect(await post(wrong.body, wrong.headers)).toBe(401);
    const good = await generateTestHeaders('agent.created', SECRET);
    expect(await post(good.body.replace('agent_123', 'agent_999'), good.headers)).toBe(401);
    const old = await generateTestHeaders('agent.created', SECRET, {
      timestamp: Math.floor(Date.now() / 1000) - 3600,
    });
    expect(await post(old.body, old.headers)).toBe(401);
    expect(await post(good.body, { 'content-type': 'application/json' })).toBe(401);
    const { 'x-agentfactory-signature': sig } = good.headers;
    // The common mistake in reverse: a bare digest without "sha256=" is not a valid header.
    expect(await post(good.body, { 'x-agentfactory-signature': sig!.slice(7) })).toBe(401);
  });

  it('answers 400 for a correctly signed body that is not JSON', async () => {
    const signed = await signPayload({
      body: 'oops',
      secret: SECRET,
      id: 'evt_x',
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(await post('oops', signed)).toBe(400);
  });
});
