/**
 * The CLI's commands, in process against a real service: help, errors as one line with exit
 * code 1, accounts/keys create with the admin key, trigger with --set and --data.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELP, setField } from '../src/cli/commands.js';
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/output.js';
import { client } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  server = await startTestServer();
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'af-cli-'));
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), errLines: err.length };
}

describe('cli', () => {
  it('--help for the tool and each command', async () => {
    expect((await cli('--help')).out).toBe(HELP.main);
    for (const c of ['serve', 'migrate', 'accounts', 'keys', 'trigger', 'tester']) {
      const r = await cli(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`agentfactory-webhooks ${c}`);
    }
  });

  it('unknown commands and options: one line, exit 1', async () => {
    for (const argv of [
      ['frobnicate'],
      ['trigger', 'agent.created', '--nope'],
      ['accounts', 'delete'],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.errLines).toBe(1);
      expect(r.err).toMatch(/^error: /);
    }
  });

  it('accounts create and keys create with the admin key', async () => {
    const r = await cli(
      'accounts',
      'create',
      '--name',
      'From CLI',
      '--url',
      server.url,
      '--api-key',
      server.adminKey,
    );
    expect(r.code).toBe(0);
    const id = r.out.match(/account\s+(acct_\S+)\s+From CLI/)?.[1];
    const key = r.out.match(/api key\s+(afk_\S+)/)?.[1];
    expect(id).toBeDefined();
    expect((await client(server.url, key)('GET', '/v1/webhooks')).status).toBe(200);
    const k = await cli(
      'keys',
      'create',
      '--account',
      id!,
      '--url',
      server.url,
      '--api-key',
      server.adminKey,
    );
    expect(k.code).toBe(0);
    const key2 = k.out.match(/api key\s+(afk_\S+)/)?.[1];
    expect((await client(server.url, key2)('GET', '/v1/webhooks')).status).toBe(200);
    const denied = await cli(
      'accounts',
      'create',
      '--name',
      'x',
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    );
    expect(denied).toMatchObject({ code: 1, errLines: 1 });
    expect(denied.err).toMatch(/^error: forbidden: /);
    const missing = await cli(
      'keys',
      'create',
      '--account',
      'acct_01HMB7ZK2C8D9E0F1G2H3J4K5M',
      '--url',
      server.url,
      '--api-key',
      server.adminKey,
    );
    expect(missing.err).toMatch(/^error: not_found: /);
  });

  it('keys list | create | revoke with the account key', async () => {
    const as = ['--url', server.url, '--api-key', server.apiKey];
    const made = await cli(
      'keys',
      'create',
      '--name',
      'ingest',
      '--scopes',
      'events:write,read',
      '--expires-in',
      '30d',
      ...as,
    );
    expect(made.code, made.err).toBe(0);
    const id = made.out.match(/key\s+(key_\S+)\s+ingest/)?.[1];
    const key = made.out.match(/api key\s+(afk_\S+)/)?.[1];
    expect(made.out).toMatch(/scopes\s+events:write, read/);
    const expires = Date.parse(made.out.match(/expires\s+(\S+)/)![1]!);
    expect(expires - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const ingest = client(server.url, key);
    expect((await ingest('GET', '/v1/webhooks')).status).toBe(200);
    expect((await ingest('POST', '/v1/webhooks', {})).status).toBe(403);

    const list = await cli('keys', 'list', ...as);
    expect(list.code).toBe(0);
    const lines = list.out.split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+SCOPES\s+CREATED\s+LAST USED\s+EXPIRES$/);
    const line = lines.find((l) => l.startsWith(id!));
    expect(line).toMatch(new RegExp(`ingest\\s+${key!.slice(0, 12)}…\\s+events:write,read\\s`));
    expect(list.out).not.toContain(key);

    const revoked = await cli('keys', 'revoke', id!, ...as);
    expect(revoked.code, revoked.err).toBe(0);
    expect(revoked.out).toMatch(/^revoked\s+key_/);
    expect((await ingest('GET', '/v1/webhooks')).status).toBe(401);
    expect((await cli('keys', 'list', ...as)).out).not.toContain(id);
    const again = await cli('keys', 'revoke', id!, ...as);
    expect(again).toMatchObject({ code: 1, errLines: 1 });
    expect(again.err).toMatch(/^error: not_found: /);

    for (const argv of [
      ['keys', 'create', ...as],
      ['keys', 'create', '--name', 'x', '--scopes', 'admin', ...as],
      ['keys', 'create', '--name', 'x', '--expires-in', 'soon', ...as],
      ['keys', 'revoke', ...as],
      ['keys', 'rotate', ...as],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.errLines).toBe(1);
      expect(r.err).toMatch(/^error: /);
    }
  });

  it('trigger posts the sample with --set overrides and prints the deliveries', async () => {
    const call = client(server.url, server.apiKey);
    await call('POST', '/v1/webhooks', { name: 'r', url: receiver.url, events: ['usage.*'] });
    const r = await cli(
      'trigger',
      'usage.threshold',
      '--set',
      'metric=tokens',
      '--set',
      'threshold_percent=90',
      '--set',
      'user_id=12345',
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out, r.out).toMatch(/^event evt_\S+ \(usage\.threshold\) accepted: 1 delivery/);
    expect(r.out).toMatch(/dlv_\S+ → wh_\S+\s+succeeded \(HTTP 200, 1 attempt\)/);
    const data = JSON.parse(receiver.requests.at(-1)!.body).data;
    expect(data).toMatchObject({ metric: 'tokens', threshold_percent: 90, user_id: '12345' });
  });

  it('trigger shows a failing delivery as pending with its next attempt', async () => {
    const failing = await startReceiver();
    failing.respond = () => ({ status: 500 });
    try {
      const call = client(server.url, server.apiKey);
      await call('POST', '/v1/webhooks', {
        name: 'f',
        url: failing.url,
        events: ['error.occurred'],
      });
      const r = await cli(
        'trigger',
        'error.occurred',
        '--url',
        server.url,
        '--api-key',
        server.apiKey,
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/pending \(HTTP 500, \d+ attempts?, next at \d{4}-\S+Z\)/);
    } finally {
      await failing.close();
    }
  });

  it('trigger --data file; schema errors and unknown events are one line', async () => {
    const file = join(dir, 'data.json');
    writeFileSync(file, JSON.stringify({ ...eventSamples['usage.limit'], metric: 'messages' }));
    const ok = await cli(
      'trigger',
      'usage.limit',
      '--data',
      file,
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    );
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(receiver.requests.at(-1)!.body).data.metric).toBe('messages');

    const bad = await cli(
      'trigger',
      'usage.limit',
      '--set',
      'current=-5',
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    );
    expect(bad).toMatchObject({ code: 1, errLines: 1 });
    expect(bad.err).toMatch(/^error: schema_violation: .*\/data\/current/);
    const unknown = await cli(
      'trigger',
      'agent.exploded',
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    );
    expect(unknown).toMatchObject({ code: 1, errLines: 1 });
    const down = await cli(
      'trigger',
      'agent.created',
      '--url',
      'http://127.0.0.1:9',
      '--api-key',
      'x',
    );
    expect(down.err).toMatch(/^error: cannot reach the service/);
  });

  it('setField keeps strings as strings and parses JSON otherwise, with dot paths', () => {
    const d: Record<string, unknown> = { a: 'x', n: 1 };
    setField(d, 'a=123');
    setField(d, 'n=42');
    setField(d, 'obj.inner=true');
    setField(d, 'text=hello world');
    expect(d).toEqual({ a: '123', n: 42, obj: { inner: true }, text: 'hello world' });
  });
});
