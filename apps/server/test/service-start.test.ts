/**
 * What a start tells the operator: a service started with an encryption key that cannot read
 * the stored secrets says so (deliveries to those webhooks would fail with configuration_error).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startService } from '../src/service.js';
import { TEST_ENV } from './helpers/server.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string, key: string) {
  const lines: string[] = [];
  const config = loadConfig({ ...TEST_ENV, AF_DATA_DIR: dataDir, AF_ENCRYPTION_KEY: key });
  const service = await startService(config, {
    logger: createLogger('info', { write: (l: string) => void lines.push(l) }),
    print: () => {},
    dashboardDir: null,
  });
  return { service, lines };
}

it('says at start that the encryption key cannot decrypt the stored secrets', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-start-'));
  dirs.push(dataDir);
  const keyA = randomBytes(32).toString('base64');
  const first = await start(dataDir, keyA);
  const res = await fetch(`${first.service.url}/v1/webhooks`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${first.service.dev!.apiKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: 'a', url: 'http://127.0.0.1:9/', events: ['*'] }),
  });
  expect(res.status).toBe(201);
  await first.service.close();
  expect(first.lines.join('')).not.toContain('cannot decrypt');

  const again = await start(dataDir, keyA);
  await again.service.close();
  expect(again.lines.join('')).not.toContain('cannot decrypt');

  const wrong = await start(dataDir, randomBytes(32).toString('base64'));
  await wrong.service.close();
  const line = wrong.lines.find((l) => l.includes('cannot decrypt'));
  expect(line).toBeDefined();
  expect(JSON.parse(line!)).toMatchObject({ level: 50, webhooks: 1 });
});
