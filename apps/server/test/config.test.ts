import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration, parseSize } from '../src/config.js';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'af-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const KEY = Buffer.alloc(32, 7).toString('base64');

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ AF_DATA_DIR: dataDir(), ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the SPEC §6 defaults', () => {
    const dir = dataDir();
    const c = loadConfig({ AF_DATA_DIR: dir });
    expect(c).toMatchObject({
      env: 'development',
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: dir,
      databasePath: join(dir, 'agentfactory.db'),
      allowPrivateNetworks: true,
      allowPrivateNetworksExplicit: false,
      metricsToken: undefined,
      maxPayloadBytes: 256 * 1024,
      role: 'all',
      logLevel: 'info',
      delivery: {
        timeoutMs: 5000,
        maxRetries: 3,
        baseDelayMs: 5 * 60_000,
        factor: 12,
        windowMs: 24 * 3_600_000,
        jitter: 0.1,
        endpointConcurrency: 10,
        allowPrivateNetworks: true,
      },
    });
    expect(c.delivery.userAgent).toMatch(/^AgentFactory-Webhooks\/\d+\.\d+\.\d+/);
  });

  it('generates both keys into the data dir (0600) in development and reuses them', () => {
    const dir = dataDir();
    const first = loadConfig({ AF_DATA_DIR: dir });
    expect(first.generatedKeys).toEqual({ admin: true, encryption: true });
    expect(Buffer.from(first.encryptionKey, 'base64')).toHaveLength(32);
    for (const name of ['admin-key', 'encryption-key']) {
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(join(dir, 'admin-key'), 'utf8').trim()).toBe(first.adminKey);
    const second = loadConfig({ AF_DATA_DIR: dir });
    expect(second.adminKey).toBe(first.adminKey);
    expect(second.encryptionKey).toBe(first.encryptionKey);
  });

  it('uses keys from the environment without generating', () => {
    const c = loadConfig({
      AF_DATA_DIR: dataDir(),
      AF_ADMIN_KEY: 'admin-key-0123456789',
      AF_ENCRYPTION_KEY: KEY,
    });
    expect(c.generatedKeys).toEqual({ admin: false, encryption: false });
    expect(c.adminKey).toBe('admin-key-0123456789');
  });

  it('AF_ENCRYPTION_KEYS: several keys, newest first; the single key and the generated one still work', () => {
    const other = Buffer.alloc(32, 8).toString('base64');
    const c = loadConfig({ AF_DATA_DIR: dataDir(), AF_ENCRYPTION_KEYS: `${other}, ${KEY}` });
    expect(c.encryptionKeys).toEqual([other, KEY]);
    expect(c.encryptionKey).toBe(other);
    expect(c.generatedKeys.encryption).toBe(false);
    const single = loadConfig({ AF_DATA_DIR: dataDir(), AF_ENCRYPTION_KEY: KEY });
    expect(single.encryptionKeys).toEqual([KEY]);
    const generated = loadConfig({ AF_DATA_DIR: dataDir() });
    expect(generated.encryptionKeys).toEqual([generated.encryptionKey]);
    // Set both: the single key must be one of the list.
    expect(
      loadConfig({
        AF_DATA_DIR: dataDir(),
        AF_ENCRYPTION_KEYS: `${other},${KEY}`,
        AF_ENCRYPTION_KEY: KEY,
      }).encryptionKeys,
    ).toEqual([other, KEY]);
    expect(configError({ AF_ENCRYPTION_KEYS: other, AF_ENCRYPTION_KEY: KEY }).variable).toBe(
      'AF_ENCRYPTION_KEY',
    );
    expect(configError({ AF_ENCRYPTION_KEYS: `${KEY},short` }).message).toMatch(
      /key 2 must be 32 bytes/,
    );
    expect(configError({ AF_ENCRYPTION_KEYS: `${KEY},${KEY}` }).message).toMatch(
      /same key as key 1/,
    );
    expect(configError({ AF_ENCRYPTION_KEYS: ' , ' }).variable).toBe('AF_ENCRYPTION_KEYS');
    // With DATABASE_URL the list stands in for the single key.
    expect(
      loadConfig({
        AF_DATA_DIR: dataDir(),
        DATABASE_URL: 'postgres://x@127.0.0.1/db',
        AF_ADMIN_KEY: 'admin-key-admin-key',
        AF_ENCRYPTION_KEYS: KEY,
      }).encryptionKeys,
    ).toEqual([KEY]);
  });

  it('reads .env from the working directory, never overriding the environment', () => {
    const dir = dataDir();
    writeFileSync(join(dir, '.env'), 'AF_RETRY_JITTER=0.5\nAF_LOG_LEVEL=debug\n');
    const cwd = process.cwd();
    const saved = { ...process.env };
    process.env.AF_LOG_LEVEL = 'warn';
    process.env.AF_DATA_DIR = dir;
    try {
      process.chdir(dir);
      const c = loadConfig();
      expect(c.delivery.jitter).toBe(0.5);
      expect(c.logLevel).toBe('warn');
    } finally {
      process.chdir(cwd);
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('parses durations and sizes', () => {
    const c = loadConfig({
      AF_DATA_DIR: dataDir(),
      AF_DELIVERY_TIMEOUT: '250ms',
      AF_RETRY_BASE_DELAY: '200ms',
      AF_RETRY_WINDOW: '5m',
      AF_MAX_PAYLOAD: '1mb',
      AF_RETRY_FACTOR: '2',
      AF_RETRY_JITTER: '0',
    });
    expect(c.delivery).toMatchObject({
      timeoutMs: 250,
      baseDelayMs: 200,
      windowMs: 300_000,
      factor: 2,
      jitter: 0,
    });
    expect(c.maxPayloadBytes).toBe(1024 * 1024);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseSize('256kb')).toBe(262_144);
    expect(parseSize('512')).toBe(512);
  });

  it('AF_AUTO_DISABLE_AFTER and AF_RETENTION: 5d and 30d by default, any duration, 0 never', () => {
    expect(loadConfig({ AF_DATA_DIR: dataDir() }).operations).toEqual({
      autoDisableAfterMs: 5 * 86_400_000,
      retentionMs: 30 * 86_400_000,
    });
    expect(
      loadConfig({ AF_DATA_DIR: dataDir(), AF_AUTO_DISABLE_AFTER: '90s', AF_RETENTION: '0' })
        .operations,
    ).toEqual({ autoDisableAfterMs: 90_000, retentionMs: 0 });
    expect(
      loadConfig({ AF_DATA_DIR: dataDir(), AF_AUTO_DISABLE_AFTER: '0', AF_RETENTION: '7d' })
        .operations,
    ).toEqual({ autoDisableAfterMs: 0, retentionMs: 7 * 86_400_000 });
    expect(configError({ AF_AUTO_DISABLE_AFTER: 'soon' }).variable).toBe('AF_AUTO_DISABLE_AFTER');
    expect(configError({ AF_RETENTION: '-1d' }).variable).toBe('AF_RETENTION');
  });

  it('production: requires both keys and disallows private networks by default', () => {
    expect(configError({ AF_ENV: 'production' }).variable).toBe('AF_ADMIN_KEY');
    expect(
      configError({ AF_ENV: 'production', AF_ADMIN_KEY: 'admin-key-0123456789' }).variable,
    ).toBe('AF_ENCRYPTION_KEY');
    const c = loadConfig({
      AF_DATA_DIR: dataDir(),
      AF_ENV: 'production',
      AF_ADMIN_KEY: 'admin-key-0123456789',
      AF_ENCRYPTION_KEY: KEY,
    });
    expect(c.allowPrivateNetworks).toBe(false);
    expect(c.delivery.allowPrivateNetworks).toBe(false);
  });

  it('AF_WARM_UP_DELIVERIES: 10000 on both stores, 0 turns it off', () => {
    const keys = { AF_ADMIN_KEY: 'admin-key-0123456789', AF_ENCRYPTION_KEY: KEY };
    const pg = { DATABASE_URL: 'postgres://u@127.0.0.1/db', ...keys };
    expect(loadConfig({ AF_DATA_DIR: dataDir() }).warmUpDeliveries).toBe(10_000);
    expect(loadConfig({ AF_DATA_DIR: dataDir(), ...pg }).warmUpDeliveries).toBe(10_000);
    expect(
      loadConfig({ AF_DATA_DIR: dataDir(), ...pg, AF_WARM_UP_DELIVERIES: '2000' }).warmUpDeliveries,
    ).toBe(2000);
    expect(
      loadConfig({ AF_DATA_DIR: dataDir(), AF_WARM_UP_DELIVERIES: '0' }).warmUpDeliveries,
    ).toBe(0);
    for (const bad of ['-1', '100001', 'many']) {
      const err = configError({ AF_WARM_UP_DELIVERIES: bad });
      expect(err.variable).toBe('AF_WARM_UP_DELIVERIES');
      expect(err.message).toMatch(/integer from 0 to 100000/);
    }
  });

  it('DATABASE_URL requires both keys and a postgres:// URL; AF_ROLE api/worker need it', () => {
    expect(configError({ DATABASE_URL: 'postgres://x' }).variable).toBe('AF_ADMIN_KEY');
    const keys = { AF_ADMIN_KEY: 'admin-key-0123456789', AF_ENCRYPTION_KEY: KEY };
    expect(configError({ DATABASE_URL: 'mysql://x', ...keys }).variable).toBe('DATABASE_URL');
    const c = loadConfig({
      AF_DATA_DIR: dataDir(),
      DATABASE_URL: 'postgres://u@127.0.0.1/db',
      AF_ROLE: 'worker',
      ...keys,
    });
    expect(c).toMatchObject({ databaseUrl: 'postgres://u@127.0.0.1/db', role: 'worker' });
    expect(c.generatedKeys).toEqual({ admin: false, encryption: false });
    const err = configError({ AF_ROLE: 'api' });
    expect(err.variable).toBe('AF_ROLE');
    expect(err.message).toMatch(/PostgreSQL/);
  });

  it('private networks: allowed by default only in development on SQLite; a setting wins', () => {
    const keys = { AF_ADMIN_KEY: 'admin-key-0123456789', AF_ENCRYPTION_KEY: KEY };
    const pg = { DATABASE_URL: 'postgres://u@127.0.0.1/db', ...keys };
    const prod = { AF_ENV: 'production', ...keys };
    const allow = (env: Record<string, string>) => {
      const c = loadConfig({ AF_DATA_DIR: dataDir(), ...env });
      expect(c.delivery.allowPrivateNetworks).toBe(c.allowPrivateNetworks);
      return [c.allowPrivateNetworks, c.allowPrivateNetworksExplicit];
    };
    expect(allow({})).toEqual([true, false]);
    expect(allow(pg)).toEqual([false, false]);
    expect(allow(prod)).toEqual([false, false]);
    expect(allow({ ...prod, ...pg })).toEqual([false, false]);
    expect(allow({ ...pg, AF_ALLOW_PRIVATE_NETWORKS: 'true' })).toEqual([true, true]);
    expect(allow({ ...prod, AF_ALLOW_PRIVATE_NETWORKS: 'yes' })).toEqual([true, true]);
    expect(allow({ AF_ALLOW_PRIVATE_NETWORKS: 'false' })).toEqual([false, true]);
    expect(allow({ ...pg, AF_ALLOW_PRIVATE_NETWORKS: ' ' })).toEqual([false, false]);
  });

  it('AF_METRICS_TOKEN: unset by default, kept when set', () => {
    expect(loadConfig({ AF_DATA_DIR: dataDir() }).metricsToken).toBeUndefined();
    const token = 'metrics-token-0123456789abcdef';
    expect(
      loadConfig({ AF_DATA_DIR: dataDir(), AF_METRICS_TOKEN: ` ${token} ` }).metricsToken,
    ).toBe(token);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['AF_ENV', 'staging'],
    ['AF_ALLOW_PRIVATE_NETWORKS', 'maybe'],
    ['AF_DELIVERY_TIMEOUT', '5'],
    ['AF_DELIVERY_TIMEOUT', 'five seconds'],
    ['AF_MAX_RETRIES', '-1'],
    ['AF_RETRY_BASE_DELAY', '5x'],
    ['AF_RETRY_FACTOR', 'x'],
    ['AF_RETRY_WINDOW', '24'],
    ['AF_RETRY_JITTER', '2'],
    ['AF_MAX_PAYLOAD', '256 gigabytes'],
    ['AF_ENDPOINT_CONCURRENCY', '0'],
    ['AF_ROLE', 'everything'],
    ['AF_ROLE', 'worker'],
    ['AF_LOG_LEVEL', 'loud'],
    ['AF_ENCRYPTION_KEY', 'c2hvcnQ='],
    ['AF_ADMIN_KEY', 'short'],
    ['AF_METRICS_TOKEN', 'short'],
    ['AF_METRICS_TOKEN', 'a token with spaces in it'],
  ])('a bad %s (%s) names the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.variable).toBe(name);
    expect(err.message.startsWith(`${name}:`)).toBe(true);
  });
});

describe('account quotas', () => {
  it('default to 100 webhooks per account and 20 custom headers per webhook', () => {
    const c = loadConfig({ AF_DATA_DIR: dataDir() });
    expect([c.maxWebhooksPerAccount, c.maxHeadersPerWebhook]).toEqual([100, 20]);
    const set = loadConfig({
      AF_DATA_DIR: dataDir(),
      AF_MAX_WEBHOOKS_PER_ACCOUNT: '7',
      AF_MAX_HEADERS_PER_WEBHOOK: '0',
    });
    expect([set.maxWebhooksPerAccount, set.maxHeadersPerWebhook]).toEqual([7, 0]);
  });

  it.each([
    ['AF_MAX_WEBHOOKS_PER_ACCOUNT', '0'],
    ['AF_MAX_WEBHOOKS_PER_ACCOUNT', 'many'],
    ['AF_MAX_WEBHOOKS_PER_ACCOUNT', '1.5'],
    ['AF_MAX_HEADERS_PER_WEBHOOK', '101'],
    ['AF_MAX_HEADERS_PER_WEBHOOK', '-1'],
  ])('a bad %s (%s) names the variable', (name, value) => {
    expect(configError({ [name]: value }).variable).toBe(name);
  });
});
