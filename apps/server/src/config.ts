/**
 * Configuration: the one module that reads `process.env` (and a `.env` file). Every variable of
 * SPEC §6, its default and its parser are in the `DEFAULTS` table below; a bad value throws a
 * `ConfigError` naming the variable, which the CLI prints before exiting 1. The values no variable
 * sets are in `BUILT_IN`. It runs past 400 lines on purpose: every default of the service is
 * here, in one place, and nowhere else.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** A configuration value is wrong: the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;
export type AppEnv = 'development' | 'production';
export type Role = 'all' | 'api' | 'worker';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** One rate limit: its average rate and its burst (`BUILT_IN.rateLimitBurstSeconds` of it). */
export interface RateLimitSetting {
  perSecond: number;
  burst: number;
}

/** What the delivery engine is given: `DeliveryConfig` of `delivery/config.ts`. */
export type DeliverySettings = DeliveryConfig;

export interface Config {
  env: AppEnv;
  port: number;
  host: string;
  /** `postgres://…`: PostgreSQL. Unset: embedded SQLite in `dataDir`. */
  databaseUrl: string | undefined;
  /** Absolute. */
  dataDir: string;
  /** `<dataDir>/agentfactory.db` (SQLite only). */
  databasePath: string;
  adminKey: string;
  /** 32 bytes, base64: the newest of `encryptionKeys` (it encrypts; cursors are signed with it). */
  encryptionKey: string;
  /**
   * Every configured encryption key, newest first (`AF_ENCRYPTION_KEYS`, or the one
   * `AF_ENCRYPTION_KEY`): the newest encrypts, each decrypts what it sealed (`security/crypto.ts`).
   */
  encryptionKeys: string[];
  /** Which of the two keys were generated into the data dir (development on SQLite). */
  generatedKeys: { admin: boolean; encryption: boolean };
  /**
   * Whether deliveries may reach loopback/private networks (cloud-metadata, link-local and
   * unspecified addresses are refused whatever this says: `security/ssrf.ts`).
   */
  allowPrivateNetworks: boolean;
  /** Whether `allowPrivateNetworks` was set explicitly rather than defaulted (start banner). */
  allowPrivateNetworksExplicit: boolean;
  /** When set, `/metrics` needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** Largest accepted event `data`, serialized, in bytes. */
  maxPayloadBytes: number;
  /** Webhooks an account may have (deleted ones do not count). */
  maxWebhooksPerAccount: number;
  /** Custom headers a webhook may have. */
  maxHeadersPerWebhook: number;
  role: Role;
  /** Deliveries the warm-up sends for real before ready (`AF_ROLE=all`); 0: none. */
  warmUpDeliveries: number;
  logLevel: LogLevel;
  version: string;
  /**
   * Rate limits (`rate-limit/`): management API requests per API key (`AF_RATE_LIMIT`) and
   * events per account on `POST /v1/events[/batch]` (`AF_INGEST_RATE_LIMIT`); null: off.
   */
  rateLimits: { api: RateLimitSetting | null; events: RateLimitSetting | null };
  delivery: DeliverySettings;
  operations: OperationsSettings;
}

/** What `operations/` is given: health, auto-disable and retention (SPEC §4). */
export interface OperationsSettings {
  /**
   * Disable a webhook failing this long (`AF_AUTO_DISABLE_AFTER`): some delivery exhausted and
   * no success since its first failure this long ago. 0: never.
   */
  autoDisableAfterMs: number;
  /** Delete finished events, deliveries and attempts older than this (`AF_RETENTION`). 0: never. */
  retentionMs: number;
}

/**
 * Every variable and its default. `null` means "no default": the rule in the SPEC applies
 * (generated in development on SQLite, required otherwise).
 */
export const DEFAULTS = {
  PORT: '3000',
  HOST: '127.0.0.1',
  DATABASE_URL: null,
  AF_DATA_DIR: './.agentfactory',
  AF_ADMIN_KEY: null,
  AF_ENCRYPTION_KEY: null,
  /** Several keys, newest first, comma-separated, for a rotation; replaces `AF_ENCRYPTION_KEY`. */
  AF_ENCRYPTION_KEYS: null,
  AF_ENV: 'development',
  /**
   * `true` only in development on the embedded SQLite (one developer's machine); `false` with
   * `DATABASE_URL` or in production, where the service is shared by tenants.
   */
  AF_ALLOW_PRIVATE_NETWORKS: null,
  AF_DELIVERY_TIMEOUT: '5s',
  AF_MAX_RETRIES: '3',
  AF_RETRY_BASE_DELAY: '5m',
  AF_RETRY_FACTOR: '12',
  AF_RETRY_WINDOW: '24h',
  AF_RETRY_JITTER: '0.1',
  AF_MAX_PAYLOAD: '256kb',
  AF_ENDPOINT_CONCURRENCY: '10',
  AF_MAX_WEBHOOKS_PER_ACCOUNT: '100',
  AF_MAX_HEADERS_PER_WEBHOOK: '20',
  AF_LEASE_DURATION: '15s',
  AF_ROLE: 'all',
  /**
   * Deliveries the warm-up sends for real before ready, in a process that serves the API and
   * delivers (`warm-up.ts`): V8 goes on optimizing a process's hot path over its first tens of
   * thousands of deliveries (docs/performance.md), and ten thousand take 2–3.5 s here. `0`: none.
   */
  AF_WARM_UP_DELIVERIES: '10000',
  /** `0`: never. */
  AF_AUTO_DISABLE_AFTER: '5d',
  /** `0`: keep everything. */
  AF_RETENTION: '30d',
  /** Unset: `/metrics` needs no key. */
  AF_METRICS_TOKEN: null,
  AF_LOG_LEVEL: 'info',
  /**
   * Management API requests per API key, `N/s`, `N/m` or `N/h` (burst: two seconds' worth); `0`
   * off (SPEC §6).
   */
  AF_RATE_LIMIT: '100/s',
  /**
   * Events per account on `POST /v1/events[/batch]` (a batch of 100 counts 100), as above; off by
   * default (SPEC §6, issue 16).
   */
  AF_INGEST_RATE_LIMIT: '0',
} as const satisfies Record<string, string | null>;

export type Variable = keyof typeof DEFAULTS;

/**
 * Built-in values: not settings (no variable changes them), written here beside the settings so
 * that every value the service runs with by default is in one place (`docs/configuration.md`).
 */
export const BUILT_IN = {
  /**
   * Deliveries one worker holds at once (attempts running or waiting for their webhook, outcomes
   * not yet written), each with a body of at most `AF_MAX_PAYLOAD`.
   */
  workerCapacity: 512,
  /** The part of a worker's capacity one account may hold (`delivery/fairness.ts`). */
  accountShare: 0.5,
  /** An idle worker's fallback poll, for work of other processes and expired leases. */
  pollIntervalMs: 1000,
  /** Connections one worker opens to one origin at most, all webhooks together. */
  connectionsPerOrigin: 128,
  /** The first bytes of a response body an attempt records (SPEC §4). */
  responseBodyBytes: 4096,
  /** How long an `Idempotency-Key` answers with its first event (SPEC §5). */
  idempotencyTtlMs: 24 * 60 * 60 * 1000,
  /** How often keys older than that are purged. */
  idempotencyPurgeMs: 60 * 60 * 1000,
  /**
   * How long a valid API key's lookup is reused, and how many are kept (`api/auth.ts`): a key
   * revoked or expired in one process is refused by every other within this time (SPEC §5: 1 s).
   */
  apiKeyCacheMs: 500,
  apiKeyCacheMax: 10_000,
  /** A key's `last_used_at` is written at most this often (`api/auth.ts`), not per request. */
  apiKeyLastUsedMs: 60_000,
  /** Unrevoked keys an account may hold (`POST /v1/api-keys`; the admin key's route is not held). */
  apiKeysPerAccount: 100,
  /** How often the pending-deliveries gauge of `/metrics` is counted. */
  pendingRefreshMs: 15_000,
  /**
   * `listen` sessions (`listen/hub.ts`): the process holding a session's connection marks it seen
   * this often; a session not seen for `listenStaleMs` counts as disconnected (its process died),
   * and one disconnected for `listenExpiryMs` (the retry window) is deleted with what waits for it.
   */
  listenHeartbeatMs: 10_000,
  listenStaleMs: 30_000,
  listenExpiryMs: 24 * 60 * 60 * 1000,
  /**
   * A rate limit's burst, in seconds of its rate: `AF_RATE_LIMIT=100/s` allows 200 at once, then
   * 100 a second (SPEC §6: "burst twice that").
   */
  rateLimitBurstSeconds: 2,
  /**
   * How often health notices are published as operational events and failing webhooks checked
   * for auto-disable (`operations/monitor.ts`), and how many notices one publication takes.
   */
  operationsIntervalMs: 1000,
  noticeBatch: 100,
  /**
   * Retention (`operations/retention.ts`): how often it runs, and how many events (with their
   * deliveries and attempts) one batch deletes, in one short transaction.
   */
  retentionIntervalMs: 60_000,
  retentionBatch: 500,
  /**
   * How often every webhook's recorded certificate is checked against the warning thresholds
   * (certificates seen on new connections are checked at once): a threshold passes while a
   * keep-alive connection lasts, with no new connection to notice it.
   */
  certificateCheckMs: 60 * 60 * 1000,
} as const;

/**
 * What the delivery engine needs from the configuration (SPEC §6), in milliseconds and plain
 * numbers: `src/config.ts` parses the environment and hands this in, so the engine never reads
 * `process.env` and tests pass compressed schedules directly.
 */
export interface DeliveryConfig {
  /** Whole-request timeout of one attempt (`AF_DELIVERY_TIMEOUT`). */
  timeoutMs: number;
  /** Retries after the first attempt (`AF_MAX_RETRIES`). */
  maxRetries: number;
  /** Delay before the first retry (`AF_RETRY_BASE_DELAY`). */
  baseDelayMs: number;
  /** Each next retry waits this many times longer (`AF_RETRY_FACTOR`). */
  factor: number;
  /** No retry is scheduled past event acceptance + this (`AF_RETRY_WINDOW`). */
  windowMs: number;
  /** ± fraction applied to each backoff delay (`AF_RETRY_JITTER`, e.g. 0.1). */
  jitter: number;
  /** Live attempts per webhook, across all processes (`AF_ENDPOINT_CONCURRENCY`). */
  endpointConcurrency: number;
  /** Allow connections to loopback/private/link-local… (`AF_ALLOW_PRIVATE_NETWORKS`). */
  allowPrivateNetworks: boolean;
  /**
   * How long a claim holds a delivery (`AF_LEASE_DURATION`; default 15 s). The engine renews the
   * leases of its in-flight deliveries every third of it, so a live worker keeps them however
   * long an attempt runs, and a dead worker's deliveries are claimed again this long after it died.
   */
  leaseMs?: number;
  /** `AgentFactory-Webhooks/{version}`. */
  userAgent: string;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };

/** `250ms`, `5s`, `5m`, `24h`, `7d` → milliseconds. Throws a plain Error on anything else. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/i.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 250ms, 5s, 5m or 24h, got "${text}"`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
}

/** `512`, `512b`, `256kb`, `5mb` (1024-based) → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb)?$/i.exec(text.trim());
  if (!m) throw new Error(`expected a size such as 256kb or 5mb, got "${text}"`);
  return Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

const RATE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * `100/s`, `6000/m`, `100` (per second) → the rate and its burst; `0` or `off` → null (no limit).
 * The burst is `BUILT_IN.rateLimitBurstSeconds` of the rate, at least 1.
 */
export function parseRateLimit(text: string): RateLimitSetting | null {
  const t = text.trim().toLowerCase();
  if (t === '0' || t === 'off') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|h))?$/.exec(t);
  if (!m) throw new Error(`expected a rate such as 100/s, 6000/m or 0 (off), got "${text}"`);
  const perSecond = Number(m[1]) / RATE_UNITS[m[2] ?? 's']!;
  if (!(perSecond > 0) || perSecond > 1_000_000)
    throw new Error(`must be above 0 and at most 1000000/s, or 0 (off), got "${text}"`);
  return {
    perSecond,
    burst: Math.max(1, Math.floor(perSecond * BUILT_IN.rateLimitBurstSeconds)),
  };
}

/** Formats milliseconds back as the shortest exact duration (`86400000` → `24h`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** The server package's version, for the `User-Agent` header (works from `src/` and `dist/`). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Reads `.env` from the working directory into `process.env` (never overriding set values). */
function loadDotEnv(): void {
  if (existsSync('.env')) process.loadEnvFile('.env');
}

/**
 * Parses and validates the configuration. With the default `env` (`process.env`) a `.env` file
 * in the working directory is read first. In development on SQLite, a missing admin or
 * encryption key is generated into `AF_DATA_DIR` (mode 0600) and reused at the next start.
 */
export function loadConfig(env: Env = process.env): Config {
  if (env === process.env) loadDotEnv();
  const raw = (name: Variable): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const get = (name: Variable): string => raw(name) ?? (DEFAULTS[name] as string);
  const parse = <T>(name: Variable, fn: (text: string) => T): T => {
    try {
      return fn(get(name));
    } catch (err) {
      throw new ConfigError(name, (err as Error).message);
    }
  };
  const int = (name: Variable, min: number, max: number) =>
    parse(name, (t) => {
      const n = Number(t);
      if (!/^\d+$/.test(t) || n < min || n > max)
        throw new Error(`expected an integer from ${min} to ${max}, got "${t}"`);
      return n;
    });
  const num = (name: Variable, min: number, max: number) =>
    parse(name, (t) => {
      const n = Number(t);
      if (!Number.isFinite(n) || n < min || n > max)
        throw new Error(`expected a number from ${min} to ${max}, got "${t}"`);
      return n;
    });
  const duration = (name: Variable, min: number) =>
    parse(name, (t) => {
      const ms = parseDuration(t);
      if (ms < min) throw new Error(`must be at least ${formatDuration(min)}, got "${t}"`);
      return ms;
    });
  const oneOf = <T extends string>(name: Variable, values: readonly T[]): T =>
    parse(name, (t) => {
      const v = t.toLowerCase() as T;
      if (!values.includes(v)) throw new Error(`expected one of ${values.join(', ')}, got "${t}"`);
      return v;
    });

  const appEnv = oneOf<AppEnv>('AF_ENV', ['development', 'production']);
  const production = appEnv === 'production';
  const port = int('PORT', 0, 65535);
  const host = get('HOST');
  const databaseUrl = raw('DATABASE_URL');
  const dataDirText = get('AF_DATA_DIR');
  const dataDir = isAbsolute(dataDirText) ? dataDirText : resolve(process.cwd(), dataDirText);
  // A service on PostgreSQL or in production serves tenants, who must not reach the operator's
  // network; the embedded SQLite in development is one developer's, whose receiver runs on
  // loopback. An explicit setting wins either way.
  const allowPrivateNetworksExplicit = raw('AF_ALLOW_PRIVATE_NETWORKS') !== undefined;
  const allowPrivateNetworks = allowPrivateNetworksExplicit
    ? parse('AF_ALLOW_PRIVATE_NETWORKS', (t) => {
        const v = t.toLowerCase();
        if (['true', '1', 'yes'].includes(v)) return true;
        if (['false', '0', 'no'].includes(v)) return false;
        throw new Error(`expected true or false, got "${t}"`);
      })
    : !production && databaseUrl === undefined;
  const timeoutMs = duration('AF_DELIVERY_TIMEOUT', 1);
  const maxRetries = int('AF_MAX_RETRIES', 0, 100);
  const baseDelayMs = duration('AF_RETRY_BASE_DELAY', 1);
  const factor = num('AF_RETRY_FACTOR', 1, 1000);
  const windowMs = duration('AF_RETRY_WINDOW', 1);
  const jitter = num('AF_RETRY_JITTER', 0, 1);
  const maxPayloadBytes = parse('AF_MAX_PAYLOAD', (t) => {
    const n = parseSize(t);
    if (n < 1024 || n > 4 * 1024 * 1024) throw new Error(`must be from 1kb to 4mb, got "${t}"`);
    return n;
  });
  const endpointConcurrency = int('AF_ENDPOINT_CONCURRENCY', 1, 1000);
  const maxWebhooksPerAccount = int('AF_MAX_WEBHOOKS_PER_ACCOUNT', 1, 100_000);
  // Every header goes out with every attempt: a hundred is already far past any receiver's need.
  const maxHeadersPerWebhook = int('AF_MAX_HEADERS_PER_WEBHOOK', 0, 100);
  // Renewed every third of it: a second is the least that leaves a heartbeat room to run.
  const leaseMs = duration('AF_LEASE_DURATION', 1000);
  const role = oneOf<Role>('AF_ROLE', ['all', 'api', 'worker']);
  const warmUpDeliveries = int('AF_WARM_UP_DELIVERIES', 0, 100_000);
  // `0` turns either off; any other value is a duration, seconds included, so tests can use them.
  const durationOrNever = (name: Variable) =>
    parse(name, (t) => (t === '0' ? 0 : parseDuration(t)));
  const autoDisableAfterMs = durationOrNever('AF_AUTO_DISABLE_AFTER');
  const retentionMs = durationOrNever('AF_RETENTION');
  const logLevel = oneOf<LogLevel>('AF_LOG_LEVEL', LOG_LEVELS);
  const rateLimits = {
    api: parse('AF_RATE_LIMIT', parseRateLimit),
    events: parse('AF_INGEST_RATE_LIMIT', parseRateLimit),
  };
  const metricsToken = raw('AF_METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(metricsToken))
    throw new ConfigError(
      'AF_METRICS_TOKEN',
      'must be at least 16 printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)',
    );

  let adminKey = raw('AF_ADMIN_KEY');
  let encryptionKey = raw('AF_ENCRYPTION_KEY');
  if (adminKey !== undefined && adminKey.length < 16)
    throw new ConfigError('AF_ADMIN_KEY', 'must be at least 16 characters');
  if (encryptionKey !== undefined && !isKey32(encryptionKey))
    throw new ConfigError(
      'AF_ENCRYPTION_KEY',
      'must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)',
    );
  const keyList = parseKeyList(raw('AF_ENCRYPTION_KEYS'), encryptionKey);
  if (keyList !== undefined) encryptionKey = keyList[0];

  const shared = databaseUrl !== undefined || production;
  const why = databaseUrl !== undefined ? 'with DATABASE_URL' : 'when AF_ENV=production';
  if (shared && adminKey === undefined) throw new ConfigError('AF_ADMIN_KEY', `is required ${why}`);
  if (shared && encryptionKey === undefined)
    throw new ConfigError('AF_ENCRYPTION_KEY', `(or AF_ENCRYPTION_KEYS) is required ${why}`);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  if (role !== 'all' && databaseUrl === undefined)
    throw new ConfigError(
      'AF_ROLE',
      `"${role}" needs PostgreSQL (DATABASE_URL): the embedded SQLite database serves one process; use AF_ROLE=all`,
    );

  const generatedKeys = { admin: false, encryption: false };
  if (adminKey === undefined) {
    adminKey = readOrCreateKeyFile(dataDir, 'admin-key', () => `afk_admin_${token(32)}`);
    generatedKeys.admin = true;
  }
  if (encryptionKey === undefined) {
    encryptionKey = readOrCreateKeyFile(dataDir, 'encryption-key', () =>
      randomBytes(32).toString('base64'),
    );
    if (!isKey32(encryptionKey))
      throw new ConfigError(
        'AF_ENCRYPTION_KEY',
        `the generated key in ${join(dataDir, 'encryption-key')} is not 32 bytes of base64`,
      );
    generatedKeys.encryption = true;
  }
  const encryptionKeys = keyList ?? [encryptionKey];

  const version = packageVersion();
  return {
    env: appEnv,
    port,
    host,
    databaseUrl,
    dataDir,
    databasePath: join(dataDir, 'agentfactory.db'),
    adminKey,
    encryptionKey,
    encryptionKeys,
    generatedKeys,
    allowPrivateNetworks,
    allowPrivateNetworksExplicit,
    metricsToken,
    maxPayloadBytes,
    maxWebhooksPerAccount,
    maxHeadersPerWebhook,
    role,
    warmUpDeliveries,
    logLevel,
    version,
    rateLimits,
    delivery: {
      timeoutMs,
      maxRetries,
      baseDelayMs,
      factor,
      windowMs,
      jitter,
      endpointConcurrency,
      leaseMs,
      allowPrivateNetworks,
      userAgent: `AgentFactory-Webhooks/${version}`,
    },
    operations: { autoDisableAfterMs, retentionMs },
  };
}

/** What the CLI's client commands read from the environment. */
export interface ClientEnv {
  apiKey: string | undefined;
  adminKey: string | undefined;
  dataDir: string;
  port: string;
}

/** The environment of the CLI's client commands (`trigger`, `accounts create`, …). */
export function loadClientEnv(env: Env = process.env): ClientEnv {
  if (env === process.env) loadDotEnv();
  const dataDirText = env.AF_DATA_DIR?.trim() || DEFAULTS.AF_DATA_DIR;
  return {
    apiKey: env.AF_API_KEY?.trim() || undefined,
    adminKey: env.AF_ADMIN_KEY?.trim() || undefined,
    dataDir: isAbsolute(dataDirText) ? dataDirText : resolve(process.cwd(), dataDirText),
    port: env.PORT?.trim() || DEFAULTS.PORT,
  };
}

/**
 * `AF_ENCRYPTION_KEYS`: keys separated by commas (or whitespace), newest first, each 32 bytes of
 * base64, none twice. When `AF_ENCRYPTION_KEY` is set as well it must be one of them, so that a
 * forgotten old setting cannot silently differ from the list.
 */
function parseKeyList(
  text: string | undefined,
  single: string | undefined,
): [string, ...string[]] | undefined {
  if (text === undefined) return undefined;
  const keys = text.split(/[\s,]+/).filter((k) => k !== '');
  const fail = (message: string) => new ConfigError('AF_ENCRYPTION_KEYS', message);
  if (keys.length === 0) throw fail('expected one key or more, newest first, separated by commas');
  keys.forEach((k, i) => {
    if (!isKey32(k))
      throw fail(
        `key ${i + 1} must be 32 bytes encoded as base64 (e.g. \`openssl rand -base64 32\`)`,
      );
    const first = keys.findIndex((other) =>
      Buffer.from(other, 'base64').equals(Buffer.from(k, 'base64')),
    );
    if (first !== i) throw fail(`key ${i + 1} is the same key as key ${first + 1}`);
  });
  if (single !== undefined && !keys.includes(single))
    throw new ConfigError(
      'AF_ENCRYPTION_KEY',
      'is set beside AF_ENCRYPTION_KEYS but is not one of its keys: keep only AF_ENCRYPTION_KEYS',
    );
  return keys as [string, ...string[]];
}

function isKey32(text: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === 32;
}

/** Random URL-safe text of `bytes` random bytes. */
export function token(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function readOrCreateKeyFile(dataDir: string, name: string, make: () => string): string {
  const path = join(dataDir, name);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${make()}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(path, 'utf8').trim();
}
