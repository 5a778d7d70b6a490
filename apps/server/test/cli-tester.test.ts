/**
 * `agentfactory-webhooks tester`: started in process on port 0, real HTTP requests on loopback
 * signed by the SDK (and once by the `standardwebhooks` library), then damaged. Answers 200 for a
 * correct request, 400 with the SDK's code for each failure, and prints the event, each scheme's
 * verdict and the cause with its fix. Once as the real CLI process, stopped with SIGINT.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTestHeaders } from '@agentfactory/webhooks';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/output.js';
import {
  type RunningTester,
  splitSecrets,
  startTester,
  TESTER_MAX_BODY,
  tester,
} from '../src/cli/tester.js';
import { runCli, signal } from './helpers/cli-process.js';
import { client } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW_SECRET = 'whsec_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
const OTHER = 'whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

let running: RunningTester;
const lines: string[] = [];
const io: Io = { out: (l) => lines.push(l), err: (l) => lines.push(l) };

beforeAll(async () => {
  running = await startTester({ port: 0, path: '/webhooks', secrets: [SECRET] }, io);
});
afterAll(async () => {
  await running?.close();
});

interface Answer {
  status: number;
  json: { ok?: boolean; error?: { code: string; message: string } };
  printed: string;
}

/** POSTs to the tester; what it printed for this request comes back with the answer. */
async function post(
  body: string,
  headers: Record<string, string>,
  url = running.url,
  method = 'POST',
): Promise<Answer> {
  const before = lines.length;
  const res = await fetch(url, {
    method,
    headers,
    ...(method === 'POST' ? { body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await res.json()) as Answer['json'];
  return { status: res.status, json, printed: lines.slice(before).join('\n') };
}

const now = () => Math.floor(Date.now() / 1000);

function without(headers: Record<string, string>, ...names: string[]) {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !names.includes(k)));
}

function expectRefused(a: Answer, code: string) {
  expect(a.status, a.printed).toBe(400);
  expect(a.json.error?.code).toBe(code);
  expect(a.json.error?.message).toBeTruthy();
  expect(a.printed).toContain(`→ 400 ${code}`);
  expect(a.printed).toMatch(/cause: /);
  expect(a.printed).toMatch(/fix: {3}/);
}

describe('tester: verified requests', () => {
  it('prints the URL on port 0 and answers 200 for a correct request, printing the event', async () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks$/);
    expect(running.port).toBeGreaterThan(0);
    const { body, headers, event } = await generateTestHeaders('conversation.message', SECRET);
    const a = await post(body, headers);
    expect(a.status, a.printed).toBe(200);
    expect(a.json).toEqual({ ok: true });
    expect(a.printed).toMatch(
      new RegExp(`POST /webhooks {2}conversation\\.message {2}${event.id}`),
    );
    expect(a.printed).toContain(`event time: ${event.timestamp}`);
    expect(a.printed).toContain('"conversation_id": "conv_789"');
    expect(a.printed).toMatch(/webhook-signature \(Standard Webhooks\):\s+ok/);
    expect(a.printed).toMatch(/X-AgentFactory-Signature \(body only\):\s+ok/);
    expect(a.printed).toContain('→ 200 verified');
  });

  it('a request signed by the standardwebhooks library', async () => {
    const { body, event } = await generateTestHeaders('agent.created', OTHER);
    const date = new Date();
    const signature = new Webhook(SECRET).sign(event.id, date, body);
    const a = await post(body, {
      'content-type': 'application/json',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
      'webhook-signature': signature,
    });
    expect(a.status, a.printed).toBe(200);
    expect(a.printed).toMatch(/agent\.created/);
    expect(a.printed).toMatch(/X-AgentFactory-Signature \(body only\):\s+absent/);
  });

  it('during a rotation: --secret twice or comma-separated, either signature', async () => {
    const out: string[] = [];
    const cliIo: Io = { out: (l) => out.push(l), err: (l) => out.push(l) };
    for (const args of [
      ['--secret', NEW_SECRET, '--secret', SECRET],
      ['--secret', `${NEW_SECRET},${SECRET}`],
    ]) {
      out.length = 0;
      const stop = new AbortController();
      const done = tester(['--port', '0', ...args], cliIo, stop.signal);
      try {
        const url = await waitFor(() => out.join('\n').match(/point a webhook at (\S+)/)?.[1]);
        expect(out[0]).toContain('(2 secrets;');
        const old = await generateTestHeaders('agent.deployed', SECRET);
        const onlyOld = await fetch(url, { method: 'POST', body: old.body, headers: old.headers });
        expect(onlyOld.status).toBe(200);
        expect(out.join('\n')).toMatch(/ok \(secret #2\)/);
        const both = await generateTestHeaders('agent.deployed', [NEW_SECRET, SECRET]);
        const r = await fetch(url, { method: 'POST', body: both.body, headers: both.headers });
        expect(r.status).toBe(200);
        expect(out.join('\n')).toMatch(/ok \(secret #1\)/);
      } finally {
        stop.abort();
        expect(await done).toBe(0);
      }
      expect(out.at(-1)).toBe('tester stopped');
    }
  });
});

describe('tester: each failure is a 400 with the SDK code, its cause and fix', () => {
  it('missing headers', async () => {
    const { body, headers } = await generateTestHeaders('agent.created', SECRET);
    const stripped = without(
      headers,
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
      'x-agentfactory-signature',
    );
    const a = await post(body, stripped);
    expectRefused(a, 'missing_header');
    expect(a.printed).toMatch(/agent\.created/);
    expect(a.printed).toMatch(/No signature header came/);
    expect(a.printed).toMatch(/stripped on the way/);
  });

  it('X-AgentFactory-Signature without the sha256= prefix', async () => {
    const { body, headers } = await generateTestHeaders('agent.updated', SECRET);
    const bodyOnly = without(headers, 'webhook-id', 'webhook-timestamp', 'webhook-signature');
    bodyOnly['x-agentfactory-signature'] = headers['x-agentfactory-signature']!.slice(7);
    const a = await post(body, bodyOnly);
    expectRefused(a, 'invalid_signature_format');
    expect(a.printed).toMatch(
      /X-AgentFactory-Signature \(body only\):\s+FAILED invalid_signature_format/,
    );
    expect(a.printed).toContain('without the "sha256=" prefix');
    expect(a.printed).toContain('compare the whole value including sha256=');
  });

  it('a wrong secret: another one, or one of the usual mistakes named', async () => {
    const other = await generateTestHeaders('usage.limit', OTHER);
    const a = await post(other.body, other.headers);
    expectRefused(a, 'signature_mismatch');
    expect(a.printed).toMatch(/none of the usual mistakes explains it/);
    expect(a.printed).toMatch(/cause: the same as above/);

    // The sender's secret is the tester's without "whsec_".
    const bare = await generateTestHeaders('usage.limit', SECRET.slice('whsec_'.length));
    const b = await post(bare.body, bare.headers);
    expectRefused(b, 'signature_mismatch');
    expect(b.printed).toContain('starts with "whsec_", but the sender\'s secret does not');
    expect(b.json.error?.message).toContain('starts with "whsec_"');
  });

  it('a re-serialized body', async () => {
    const { headers, event } = await generateTestHeaders('conversation.ended', SECRET);
    const a = await post(JSON.stringify(event, null, 2), headers);
    expectRefused(a, 'signature_mismatch');
    expect(a.printed).toContain(event.id);
    expect(a.printed).toMatch(/The body was changed between the sender and this receiver/);
    expect(a.printed).toMatch(/as compact JSON/);
    expect(a.printed).toMatch(/raw bytes/);
  });

  it('a stale timestamp, a future one, an invalid one', async () => {
    const old = await generateTestHeaders('error.occurred', SECRET, { timestamp: now() - 3600 });
    const a = await post(old.body, old.headers);
    expectRefused(a, 'timestamp_too_old');
    expect(a.printed).toMatch(/webhook-timestamp is 1 h( \d+ s)? old/);
    expect(a.printed).toMatch(/replay/);
    expect(a.printed).toMatch(/NTP/);

    const future = await generateTestHeaders('error.occurred', SECRET, { timestamp: now() + 900 });
    const b = await post(future.body, future.headers);
    expectRefused(b, 'timestamp_too_new');
    expect(b.printed).toMatch(/in the future/);

    const c = await post(old.body, { ...old.headers, 'webhook-timestamp': 'yesterday' });
    expectRefused(c, 'invalid_timestamp');
    expect(c.printed).toMatch(/"yesterday" is not unix seconds/);
  });

  it('a body that is not JSON is shown as text', async () => {
    const a = await post('hello=world', { 'content-type': 'application/x-www-form-urlencoded' });
    expectRefused(a, 'missing_header');
    expect(a.printed).toContain('body: not a JSON object: "hello=world"');
  });
});

describe('tester: other requests and the command line', () => {
  it('other paths 404 with the URL, GET 405, a body over 1 MiB 413', async () => {
    const base = running.url.replace(/\/webhooks$/, '');
    const a = await post('{}', {}, `${base}/hooks`);
    expect(a.status).toBe(404);
    expect(a.json.error?.message).toContain(running.url);
    expect(a.printed).toMatch(/→ 404: the tester listens on \/webhooks/);
    const g = await post('', {}, running.url, 'GET');
    expect(g.status).toBe(405);
    const big = await post('x'.repeat(TESTER_MAX_BODY + 1), { 'content-type': 'application/json' });
    expect(big.status).toBe(413);
    expect(big.json.error?.code).toBe('payload_too_large');
  });

  it('without --secret, a bad secret or port: one line, exit 1', async () => {
    const run = async (...argv: string[]) => {
      const err: string[] = [];
      const code = await main(argv, { out: () => {}, err: (l) => err.push(l) });
      return { code, err };
    };
    // No secret and no key (no AF_API_KEY, a data dir without a development key).
    vi.stubEnv('AF_API_KEY', '');
    vi.stubEnv('AF_DATA_DIR', mkdtempSync(join(tmpdir(), 'af-tester-')));
    try {
      const none = await run('tester', '--port', '0');
      expect(none.code).toBe(1);
      expect(none.err).toHaveLength(1);
      expect(none.err[0]).toMatch(
        /^error: tester needs a secret: pass --secret whsec_… .*or --api-key .*listen secret/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
    const spaced = await run('tester', '--secret', `${SECRET} `);
    expect(spaced.err[0]).toMatch(/^error: --secret: .*whitespace/);
    const port = await run('tester', '--port', 'eighty', '--secret', SECRET);
    expect(port.err[0]).toMatch(/^error: --port must be a number/);
  });

  it('splits --secret on commas only between whole secrets', () => {
    expect(splitSecrets([`${NEW_SECRET},${SECRET}`, OTHER])).toEqual([NEW_SECRET, SECRET, OTHER]);
    expect(splitSecrets(['my,secret-with-a-comma-0123'])).toEqual(['my,secret-with-a-comma-0123']);
  });

  it('the real CLI: prints the URL, answers, and stops cleanly on SIGINT', async () => {
    const cli = runCli(['tester', '--port', '0', '--secret', SECRET], {});
    try {
      const [, url] = await cli.waitForOutput(/point a webhook at (\S+)/);
      const { body, headers } = await generateTestHeaders('agent.created', SECRET);
      const res = await fetch(url!, { method: 'POST', body, headers });
      expect(res.status).toBe(200);
      await cli.waitForOutput(/→ 200 verified/, 10_000);
      signal(cli, 'SIGINT');
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toMatch(/tester stopped\n$/);
    } finally {
      signal(cli, 'SIGKILL');
    }
  }, 60_000);
});

describe("tester: the account's listen secret without --secret", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('fetches it with the account key and answers 200 for a request signed with it', async () => {
    const out: string[] = [];
    const stop = new AbortController();
    const done = tester(
      ['--port', '0', '--url', server.url, '--api-key', server.apiKey],
      { out: (l) => out.push(l), err: (l) => out.push(l) },
      stop.signal,
    );
    try {
      const url = await waitFor(() =>
        out.map((l) => /point a webhook at (\S+)/.exec(l)?.[1]).find(Boolean),
      );
      const { body } = await client(server.url, server.apiKey)('GET', '/v1/listen/secret');
      const secret: string = body.secret;
      // It says where the secret came from, showing only its first 10 characters.
      expect(out[0]).toBe(
        `tester: no --secret, verifying with the account's listen secret from ${server.url} (${secret.slice(0, 10)}…)`,
      );
      expect(out.join('\n')).not.toContain(secret);
      const signed = await generateTestHeaders('agent.created', secret);
      const ok = await fetch(url, { method: 'POST', body: signed.body, headers: signed.headers });
      expect(ok.status).toBe(200);
      const other = await generateTestHeaders('agent.created', OTHER);
      const refused = await fetch(url, {
        method: 'POST',
        body: other.body,
        headers: other.headers,
      });
      expect(refused.status).toBe(400);
    } finally {
      stop.abort();
    }
    expect(await done).toBe(0);
  });

  it('a refused key or a service that is down: one line, exit 1', async () => {
    const run = async (...argv: string[]) => {
      const err: string[] = [];
      const code = await main(argv, { out: () => {}, err: (l) => err.push(l) });
      return { code, err };
    };
    const refused = await run('tester', '--port', '0', '--url', server.url, '--api-key', 'afk_x');
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([
      expect.stringMatching(
        /^error: tester could not fetch the account's listen secret from http:\S+: unauthorized: /,
      ),
    ]);
    const admin = await run('tester', '--url', server.url, '--api-key', server.adminKey);
    expect(admin.code).toBe(1);
    expect(admin.err[0]).toMatch(/listen secret .*forbidden: /);
    const down = await run('tester', '--url', 'http://127.0.0.1:9', '--api-key', server.apiKey);
    expect(down.code).toBe(1);
    expect(down.err[0]).toMatch(
      /listen secret from http:\/\/127\.0\.0\.1:9: cannot reach the service/,
    );
  });
});

async function waitFor<T>(get: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
