/**
 * The service as a user runs it: the CLI as a child process on a temp data dir and a free port.
 * The first run prints the keys and a curl that works; a SIGKILL while deliveries are in flight
 * loses nothing (every accepted event reaches the receiver at least once after a restart);
 * SIGTERM exits 0.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventSamples } from '@agentfactory/webhooks';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Child processes start slowly on a busy machine: generous bounds, each still finite.
vi.setConfig({ testTimeout: 90_000 });

import { type CliProcess, freePort, runCli, signal } from './helpers/cli-process.js';
import { client, eventually, respond } from './helpers/client.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'af-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function serve(env: Record<string, string>): CliProcess {
  const p = runCli(['serve'], env);
  cleanups.push(() => signal(p, 'SIGKILL'));
  return p;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}

describe('first run', () => {
  it('creates the data dir and keys, prints them with a curl that creates a webhook', async () => {
    const dataDir = join(tempDir(), 'data');
    const port = await freePort();
    const env = { AF_DATA_DIR: dataDir, PORT: String(port), AF_LOG_LEVEL: 'warn' };
    const p = serve(env);
    const url = `http://127.0.0.1:${port}`;
    await p.waitForOutput(/curl[\s\S]*events/);
    const out = p.stdout();
    const admin = out.match(/Admin key:\s+(\S+)/)?.[1];
    const apiKey = out.match(/Dev API key:\s+(\S+)/)?.[1];
    expect(admin).toMatch(/^afk_admin_/);
    expect(apiKey).toMatch(/^afk_/);
    expect(out).toContain(url);
    expect(out).toMatch(
      /Private networks: allowed, .*\(development on SQLite; AF_ALLOW_PRIVATE_NETWORKS=false to refuse\)/,
    );
    for (const f of ['admin-key', 'encryption-key', 'dev-keys.json']) {
      expect(statSync(join(dataDir, f)).mode & 0o777).toBe(0o600);
    }

    // Run the printed curl as printed, pointed at a real receiver.
    const r = await receiver();
    const curl = out
      .slice(out.indexOf('curl '))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(0, 4)
      .join('\n')
      .replace('http://127.0.0.1:4000/webhooks', r.url);
    const { stdout } = await run('sh', ['-c', curl]);
    const created = JSON.parse(stdout);
    expect(created).toMatchObject({
      id: expect.stringMatching(/^wh_/),
      secret: expect.stringMatching(/^whsec_/),
    });

    // The CLI's trigger uses the development key from the data dir.
    const t = runCli(
      ['trigger', 'agent.created', '--url', url, '--set', 'agent_name=From the CLI'],
      env,
    );
    expect(await t.exited).toBe(0);
    expect(t.stdout()).toMatch(/event evt_\S+ \(agent\.created\) accepted: 1 delivery/);
    expect(t.stdout()).toMatch(/dlv_\S+ → wh_\S+\s+succeeded \(HTTP 200, 1 attempt\)/);
    expect(JSON.parse(r.requests[0]!.body).data.agent_name).toBe('From the CLI');

    // accounts create finds the generated admin key in the data dir.
    const a = runCli(['accounts', 'create', '--name', 'Second', '--url', url], env);
    expect(await a.exited).toBe(0);
    expect(a.stdout()).toMatch(/account\s+acct_\S+\s+Second/);

    // A second start prints the same keys; SIGTERM exits 0.
    signal(p, 'SIGTERM');
    expect(await p.exited).toBe(0);
    const again = serve(env);
    await again.waitForOutput(/Dev API key:\s+(\S+)/);
    expect(again.stdout()).toContain(apiKey!);
    expect(again.stdout()).toContain(admin!);
    signal(again, 'SIGTERM');
    expect(await again.exited).toBe(0);
  });

  it('migrate creates the database and exits 0', async () => {
    const dataDir = tempDir();
    const p = runCli(['migrate'], { AF_DATA_DIR: dataDir });
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toContain(`database is up to date: ${join(dataDir, 'agentfactory.db')}`);
    expect(statSync(join(dataDir, 'agentfactory.db')).size).toBeGreaterThan(0);
  });

  it('a bad configuration value stops the start with the variable named, exit 1', async () => {
    const p = runCli(['serve'], {
      AF_DATA_DIR: tempDir(),
      PORT: '3000',
      AF_RETRY_WINDOW: 'forever',
    });
    expect(await p.exited).toBe(1);
    expect(p.stderr().trim()).toMatch(/^error: configuration: AF_RETRY_WINDOW: /);
    expect(p.stderr().trim().split('\n')).toHaveLength(1);
  });
});

describe('crash safety', () => {
  it('SIGKILL mid-flight, restart: every accepted event reaches the receiver at least once', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const env = {
      AF_DATA_DIR: dataDir,
      PORT: String(port),
      AF_LOG_LEVEL: 'warn',
      AF_DELIVERY_TIMEOUT: '5s',
      AF_RETRY_BASE_DELAY: '200ms',
      AF_RETRY_FACTOR: '1',
      AF_RETRY_JITTER: '0',
      AF_ENDPOINT_CONCURRENCY: '4',
    };
    const url = `http://127.0.0.1:${port}`;
    const r = await receiver();
    // Slow: every request takes 400 ms, so most deliveries are queued or in flight at the kill.
    respond(r, () => ({ status: 200, delayMs: 400 }));

    const first = serve(env);
    const apiKey = (await first.waitForOutput(/Dev API key:\s+(\S+)/))[1]!;
    const call = client(url, apiKey);
    expect(
      (await call('POST', '/v1/webhooks', { name: 'slow', url: r.url, events: ['*'] })).status,
    ).toBe(201);
    const accepted: string[] = [];
    const batch = await call('POST', '/v1/events/batch', {
      events: Array.from({ length: 30 }, (_, i) => ({
        event: 'conversation.message',
        data: { ...eventSamples['conversation.message'], message_id: `m${i}` },
      })),
    });
    expect(batch.status).toBe(202);
    accepted.push(...batch.body.data.map((e: { id: string }) => e.id));
    await r.waitFor(2, 15_000);
    signal(first, 'SIGKILL');
    await first.exited;
    const beforeRestart = new Set(r.requests.map((q) => JSON.parse(q.body).id));
    expect(beforeRestart.size).toBeLessThan(accepted.length);

    const second = serve(env);
    await second.waitForOutput(/Dev API key/);
    await eventually(
      async () => {
        const seen = new Set(r.requests.map((q) => JSON.parse(q.body).id));
        return accepted.every((id) => seen.has(id)) ? true : undefined;
      },
      30_000,
      'every accepted event at the receiver',
    );
    signal(second, 'SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
