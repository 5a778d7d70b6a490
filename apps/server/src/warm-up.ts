/**
 * The warm-up at start, before `/readyz` answers 200 (`service.ts` runs it once the server
 * listens; `/readyz` answers 503 `{status: 'warming'}` until then). A fresh process is slow for
 * its first seconds: every function runs for the first time, and on PostgreSQL each pooled
 * connection is a new server process that has not yet read the tables' descriptions, compiled
 * the claim functions or prepared the store's statements. The warm-up pays those costs before a
 * load balancer sends traffic, and leaves nothing a user can see:
 *
 * 1. The store (`StoreWarmUp`): every pooled connection opened, and in each the hot statements
 *    run once with arguments no row matches (`store/postgres/sql/warm-up.ts`); on SQLite the
 *    same on its thread, into its statement cache (`SqliteStore.warmUp`).
 * 2. The HTTP routes, in process (`app.inject`): the routes and their schemas are compiled by
 *    `listen` (Fastify's `ready`); then the hot route, `POST /v1/events`, is called with an
 *    unknown account key (401, after the key lookup) and with the admin key for an account
 *    that does not exist (404, after parsing and validating the body and looking the account
 *    up), and `/healthz` and `/readyz` once. None of them reaches the insert.
 * 3. The delivery path's code: one attempt's headers built and signed for a made-up delivery
 *    with a throwaway secret (decrypt, HMACs, header checks); nothing is sent.
 * 4. Steps 2 and 3 again, `JIT_ROUNDS` times (four at once), the routes now over the loopback
 *    with undici, the sender's HTTP client: code run once is only compiled to bytecode, and V8
 *    optimizes what has run many times; the rounds also run the server's and the client's
 *    HTTP code (undici's parser is WebAssembly, compiled on first use). These requests carry a
 *    token of this process and are left out of the request log (`isWarmUpRequest`). Measured
 *    at 500 events/s from ready (docs/performance.md): on PostgreSQL the first second's p99
 *    went from 120 to 60 ms and the 10 s p99 from about 100 to 45-55 ms; on SQLite the first
 *    100 ms' p50 from 30-50 to under 10 ms; for about half a second more of warm-up.
 *
 * 5. Real deliveries, in a process that delivers (`AF_ROLE=all` or `worker`): the rounds above
 *    leave the engine, the store's writes and claims, the sender and the insert cold, and V8
 *    keeps optimizing a process's hot path over its first tens of thousands of deliveries
 *    (measured in docs/performance.md: a process's third 20,000 deliveries cost about a fifth
 *    less CPU than its first). So the warm-up makes an account of its own with
 *    `WARM_UP_WEBHOOKS` webhooks pointing at a receiver it serves on 127.0.0.1 (let past the SSRF
 *    guard for that port alone: `Sender.allowOwnReceiver`), posts events through the API (in
 *    batches and one by one, with the admin key; a worker, which serves no API, inserts the same
 *    envelopes through the store, as the API would, and wakes its engine) until
 *    `AF_WARM_UP_DELIVERIES` deliveries are made, waits until each is received and recorded,
 *    then deletes the account and everything of it (`Store.purgeAccount`) and zeroes the
 *    traffic counters of /metrics (`Metrics.forgetTraffic`). Nothing of it stays; while it runs
 *    the admin key can see the account, named `warm-up`. On PostgreSQL every process on the
 *    database claims due deliveries, and an idle one took all 10,000 of a starting one's (its
 *    guard refused them) until each warm-up webhook got a delivery leased to this process at
 *    once and never sent: one worker at a time per webhook, so no other process claims those
 *    webhooks' deliveries. What a warm-up killed before its purge left is deleted by the next
 *    one (`WARM_UP_ACCOUNT_PREFIX`).
 *    An api process (`AF_ROLE=api`) sends nothing: it posts the same events through its API to
 *    an account of its own without webhooks (`warmInserts`), so that the hot route's insert and
 *    answer are warm too and no worker is given work.
 *
 * A step that fails is logged as a warning and the next runs; the whole is bounded
 * (`WARM_UP_TIMEOUT_MS`), after which the service is ready anyway: a warm-up never holds
 * readiness for longer.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventSamples } from '@agentfactory/webhooks';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { buildEnvelope } from './api/envelope.js';
import type { Config } from './config.js';
import type { DeliveryEngine } from './delivery/engine.js';
import { RequestBuilder } from './delivery/request.js';
import { newId } from './ids.js';
import type { Metrics } from './metrics.js';
import { blobContext, type Cipher } from './security/crypto.js';
import { generateSecret } from './security/secrets.js';
import { hasWarmUp } from './store/capabilities.js';
import { type ClaimedDelivery, newWebhookRow, type Store } from './store/types.js';

/** The longest a warm-up holds readiness: past it the service answers 200 anyway. */
export const WARM_UP_TIMEOUT_MS = 10_000;

/** How many times the routes and the signing run for V8 to optimize them (step 4 above). */
export const JIT_ROUNDS = 300;

/** Step 5's webhooks: each event it posts is a delivery to each. */
export const WARM_UP_WEBHOOKS = 4;

/**
 * Step 5's share of the bound: it makes deliveries until `MAKE_SHARE` of the bound has passed
 * since the warm-up began and waits for them until `WAIT_SHARE`, and the rest is for removing its
 * account. A slow or busy machine gets fewer warm-up deliveries, not a warm-up cut at the bound:
 * a cut one leaves its deliveries and its purge running beside the first traffic (two workers
 * starting together on a slow host were both cut, and 500 events/s from ready then ran seconds
 * late: docs/performance.md, the tenth pass).
 */
const MAKE_SHARE = 0.5;
const WAIT_SHARE = 0.8;

/**
 * Step 5's deliveries made and not yet answered, at most: it makes them as fast as this process
 * sends them, so that when it stops making more there are no more than this to wait for.
 */
const WARM_UP_AHEAD = 1_000;

/**
 * How long step 5's holding leases last (see `warmDeliveries`): past the whole warm-up's bound,
 * so that they outlive the step, whose purge deletes them.
 */
const HOLD_MS = WARM_UP_TIMEOUT_MS + 20_000;

/**
 * The start of every warm-up account's id: an account id (`acct_` and a ULID, as the API takes)
 * whose ULID time is 0, 1970, which no id `newId` makes has. A warm-up that never finished (its
 * process killed) left an account with this prefix, and the next one deletes it once it is
 * older than `LEFTOVER_AFTER_MS` (its `created_at`), past any warm-up still running elsewhere.
 */
export const WARM_UP_ACCOUNT_PREFIX = `acct_${'0'.repeat(10)}`;

/** A warm-up account's id, made at `ms`: the prefix, then a ULID's random part (16 characters). */
export function warmUpAccountId(ms: number): string {
  return `${WARM_UP_ACCOUNT_PREFIX}${newId('acct', ms).slice(-16)}`;
}
const LEFTOVER_AFTER_MS = 2 * HOLD_MS;

/** Whether the service is warm: `/readyz` answers 503 `warming` until it is. */
export class Readiness {
  private isWarm = false;

  get warm(): boolean {
    return this.isWarm;
  }

  markWarm(): void {
    this.isWarm = true;
  }
}

export interface WarmUpDeps {
  app: FastifyInstance;
  store: Store;
  cipher: Cipher;
  config: Config;
  logger: Logger;
  /** Whether the process serves the API (`all`, `api`): only then are its routes warmed. */
  servesApi: boolean;
  /** The service's own URL: the repeated rounds call it over the loopback. */
  url?: string;
  timeoutMs?: number;
  /** Default `JIT_ROUNDS`. */
  jitRounds?: number;
  /**
   * Step 5, in a process that delivers (`all`, `worker`): the engine (its sender lets the
   * warm-up's receiver through; a worker's is woken for the events it inserts) and the counters
   * zeroed after it. Absent: no step 5.
   */
  deliveries?: {
    engine: Pick<DeliveryEngine, 'allowOwnReceiver' | 'owner' | 'notify'>;
    metrics: Pick<Metrics, 'forgetTraffic'>;
    /** Deliveries to send (`AF_WARM_UP_DELIVERIES`); 0 skips the step. */
    count: number;
  };
  /**
   * Step 5 in a process that serves the API and does not deliver (`api`): events inserted
   * through the API alone (`warmInserts`), and the counters zeroed after it. Absent: no step 5.
   */
  inserts?: {
    metrics: Pick<Metrics, 'forgetTraffic'>;
    /** As `deliveries.count`: this many deliveries' worth of events. */
    count: number;
  };
}

export interface WarmUpResult {
  ms: number;
  /** Store connections opened and warmed (SQLite: its one). */
  connections: number;
  /** Steps that failed, by name. */
  failed: string[];
  /** The bound was reached before every step finished. */
  timedOut: boolean;
  /** Deliveries step 5 sent and its receiver answered (0 when it did not run). */
  deliveries: number;
  /** Events step 5 inserted in an api process (0 elsewhere). */
  events: number;
}

/** The user agent of the warm-up's requests and of its made-up attempt. */
const USER_AGENT = 'agentfactory-webhooks warm-up';

/**
 * The warm-up's requests carry this header with a random token of this process, so that the
 * request log leaves them out (`isWarmUpRequest`, in `app.ts`): a thousand lines at every start
 * would say nothing. Nobody else knows the token, so no other request can hide from the log.
 */
const TOKEN_HEADER = 'x-agentfactory-warm-up';
const TOKEN = randomBytes(16).toString('hex');

/** Whether `request` is one of this process's warm-up requests (not logged). */
export function isWarmUpRequest(request: { headers: IncomingHttpHeaders }): boolean {
  return request.headers[TOKEN_HEADER] === TOKEN;
}

/** Runs the warm-up (see the top of this file); never rejects. */
export async function warmUp(deps: WarmUpDeps): Promise<WarmUpResult> {
  const started = performance.now();
  const bound = deps.timeoutMs ?? WARM_UP_TIMEOUT_MS;
  const result: WarmUpResult = {
    ms: 0,
    connections: 0,
    failed: [],
    timedOut: false,
    deliveries: 0,
    events: 0,
  };
  const steps: [string, () => Promise<void>][] = [
    [
      'store',
      async () => {
        await deps.app.ready();
        if (hasWarmUp(deps.store)) result.connections = (await deps.store.warmUp()).connections;
      },
    ],
    ['http', () => warmRoutes(deps)],
    ['delivery', async () => warmDelivery(deps.cipher)],
    [
      'jit',
      async () => {
        const agent = new Agent({ connections: 8 });
        const via = deps.url ? overHttp(deps.url, agent) : undefined;
        const rounds = deps.jitRounds ?? JIT_ROUNDS;
        try {
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              for (let i = 0; i < rounds / 4 && !result.timedOut; i++) {
                await warmRoutes(deps, via);
                warmDelivery(deps.cipher);
              }
            }),
          );
        } finally {
          await agent.close();
        }
      },
    ],
    [
      'deliveries',
      async () => {
        // Real deliveries where this process delivers, else the inserts alone where it serves
        // the API.
        const step = deps.deliveries ?? (deps.servesApi && deps.url ? deps.inserts : undefined);
        if (!step) return;
        // What a warm-up that never finished left (with the setting at 0 too: it may be 0 since).
        await purgeLeftovers(deps.store);
        const events = Math.ceil(step.count / WARM_UP_WEBHOOKS);
        if (events <= 0) return;
        const budget: StepBudget = {
          cutShort: () => result.timedOut,
          stopMaking: () => result.timedOut || performance.now() > started + bound * MAKE_SHARE,
          waitUntil: started + bound * WAIT_SHARE,
        };
        if (deps.deliveries) {
          result.deliveries = await warmDeliveries(deps, deps.deliveries, events, budget);
        } else if (deps.url) {
          result.events = await warmInserts(deps, deps.url, step.metrics, events, budget);
        }
      },
    ],
  ];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), bound);
  });
  const run = (async () => {
    for (const [name, step] of steps) {
      if (result.timedOut) return;
      try {
        await step();
      } catch (err) {
        result.failed.push(name);
        deps.logger.warn({ err, step: name }, `warm-up step "${name}" failed; continuing`);
      }
    }
  })();
  if ((await Promise.race([run, timeout])) === 'timeout') {
    result.timedOut = true;
    deps.logger.warn(`the warm-up did not finish within ${bound} ms; ready anyway`);
  }
  clearTimeout(timer);
  result.ms = performance.now() - started;
  return result;
}

type Call = (o: {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  payload?: object;
}) => Promise<{ statusCode: number }>;

/** Requests over the loopback to the service itself, with undici (the sender's HTTP client). */
function overHttp(base: string, agent: Agent): Call {
  return async ({ method, url, headers, payload }) => {
    const res = await request(`${base}${url}`, {
      method,
      dispatcher: agent,
      headers: payload ? { ...headers, 'content-type': 'application/json' } : headers,
      ...(payload ? { body: JSON.stringify(payload) } : {}),
    });
    await res.body.dump();
    return { statusCode: res.statusCode };
  };
}

/** The hot routes called in process, each answering before anything is stored. */
async function warmRoutes(deps: WarmUpDeps, via?: Call): Promise<void> {
  const { app } = deps;
  const call: Call = via ?? ((o) => app.inject(o));
  const headers = { 'user-agent': USER_AGENT, [TOKEN_HEADER]: TOKEN };
  const get = (url: string) => call({ method: 'GET', url, headers });
  await get('/healthz');
  await get('/readyz');
  if (!deps.servesApi) return;
  const event = { event: 'conversation.message', data: eventSamples['conversation.message'] };
  // An account that does not exist (a fresh random id): the admin key's path stops at 404.
  const account_id = newId('acct');
  const post = (url: string, key: string, payload: unknown) =>
    call({
      method: 'POST',
      url,
      headers: { ...headers, authorization: `Bearer ${key}` },
      payload: payload as object,
    });
  const expect = async (res: Promise<{ statusCode: number }>, status: number, what: string) => {
    const { statusCode } = await res;
    if (statusCode !== status) throw new Error(`${what} answered ${statusCode}, not ${status}`);
  };
  // A key no account has: authentication looks its hash up in the store, and answers 401.
  await expect(post('/v1/events', `afk_${'0'.repeat(40)}`, event), 401, 'an unknown key');
  await expect(
    post('/v1/events', deps.config.adminKey, { ...event, account_id }),
    404,
    'an event for no account',
  );
  await expect(
    post('/v1/events/batch', deps.config.adminKey, { events: [event], account_id }),
    404,
    'a batch for no account',
  );
}

/**
 * Step 5's frame, in both its forms: `body` given an account of the warm-up's own (made here) and
 * an HTTP client for its requests; afterwards, whatever `body` did, the account and everything
 * of it deleted and, unless the warm-up was cut short, the traffic counters of /metrics zeroed.
 */
async function inWarmUpAccount(
  deps: WarmUpDeps,
  metrics: Pick<Metrics, 'forgetTraffic'>,
  cutShort: () => boolean,
  body: (accountId: string, now: number, agent: Agent) => Promise<number>,
): Promise<number> {
  const now = Date.now();
  const accountId = warmUpAccountId(now);
  const agent = new Agent({ connections: 4 });
  try {
    await deps.store.createAccount({ id: accountId, name: 'warm-up', createdAt: now });
    return await body(accountId, now, agent);
  } finally {
    await agent.close();
    await deps.store.purgeAccount(accountId);
    if (!cutShort()) metrics.forgetTraffic();
  }
}

/**
 * Step 5 (see the top of this file): `events` events' real deliveries, of an account of the
 * warm-up's own to its own receiver, then the account removed. Returns how many deliveries the
 * receiver answered.
 */
async function warmDeliveries(
  deps: WarmUpDeps,
  opts: NonNullable<WarmUpDeps['deliveries']>,
  events: number,
  budget: StepBudget,
): Promise<number> {
  let received = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    receiver.once('error', reject);
    receiver.listen(0, '127.0.0.1', resolve);
  });
  const port = (receiver.address() as AddressInfo).port;
  const release = opts.engine.allowOwnReceiver(port);
  const holders = new Set<string>();
  const deliver = async (accountId: string, now: number, agent: Agent) => {
    for (let i = 0; i < WARM_UP_WEBHOOKS; i++) {
      const id = newId('wh', now);
      await deps.store.createWebhook(
        newWebhookRow({
          id,
          accountId,
          name: `warm-up ${i + 1}`,
          url: `http://127.0.0.1:${port}/warm-up/${i + 1}`,
          secretEnc: deps.cipher.encrypt(generateSecret(), blobContext.webhookSecret(id)),
          createdAt: now,
        }),
      );
      // A webhook another worker holds a live lease on has no room in that worker's claims (one
      // worker at a time per webhook): a delivery leased to this process at once, never sent,
      // keeps every other process on the database away from this webhook's deliveries.
      const holder = newId('dlv', now);
      holders.add(holder);
      const evt = newId('evt', now);
      await deps.store.insertTestDelivery(
        accountId,
        id,
        { id: evt, event: 'webhook.test', timestamp: now, body: JSON.stringify({ id: evt }) },
        { id: holder, owner: opts.engine.owner, leaseMs: HOLD_MS },
        now,
      );
    }
    const insert =
      deps.servesApi && deps.url
        ? throughApi(deps.config, accountId, overHttp(deps.url, agent))
        : throughStore(deps.store, opts.engine, accountId);
    let made = 0;
    const paced: InsertEvents = async (n) => {
      while (made - received >= WARM_UP_AHEAD && !budget.stopMaking()) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (budget.stopMaking()) return 0;
      const accepted = await insert(n);
      made += accepted * WARM_UP_WEBHOOKS;
      return accepted;
    };
    const accepted = await insertAll(paced, events, budget.stopMaking);
    // Every delivery answered and its outcome recorded (none pending but the holders), or the
    // step's share of the bound.
    const expected = accepted * WARM_UP_WEBHOOKS;
    const pending = async () =>
      (
        await deps.store.listDeliveries(
          accountId,
          { status: 'pending' },
          { limit: WARM_UP_WEBHOOKS + 1 },
        )
      ).data.some((d) => !holders.has(d.id));
    while (!budget.cutShort() && performance.now() < budget.waitUntil) {
      if (received >= expected && !(await pending())) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return received;
  };
  try {
    return await inWarmUpAccount(deps, opts.metrics, budget.cutShort, deliver);
  } finally {
    release();
    receiver.closeAllConnections();
    receiver.close();
  }
}

/** What a warm-up that never finished left. */
async function purgeLeftovers(store: Store): Promise<void> {
  const leftovers = await store.listAccountIds(
    WARM_UP_ACCOUNT_PREFIX,
    Date.now() - LEFTOVER_AFTER_MS,
  );
  for (const left of leftovers) await store.purgeAccount(left);
}

/**
 * Step 5 in an api process (`AF_ROLE=api`), which sends nothing: events posted through the API
 * as in a process that delivers, to an account of the warm-up's own without webhooks (so nothing
 * is due for the workers), then the account removed and the counters zeroed. Warms what the
 * rounds leave cold on the hot route: the body past validation, the insert and its answer.
 * Answers how many events were accepted.
 */
async function warmInserts(
  deps: WarmUpDeps,
  url: string,
  metrics: Pick<Metrics, 'forgetTraffic'>,
  events: number,
  budget: StepBudget,
): Promise<number> {
  return inWarmUpAccount(deps, metrics, budget.cutShort, (accountId, _now, agent) =>
    insertAll(throughApi(deps.config, accountId, overHttp(url, agent)), events, budget.stopMaking),
  );
}

/** Step 5's events, `n` at once into the warm-up's account; answers how many were accepted. */
type InsertEvents = (n: number) => Promise<number>;

/** Step 5's time (see `MAKE_SHARE`). */
interface StepBudget {
  /** The whole warm-up's bound was reached. */
  cutShort(): boolean;
  /** Past the step's share for making deliveries (or cut short): make no more. */
  stopMaking(): boolean;
  /** Until when it waits for what it made (`performance.now()` time). */
  waitUntil: number;
}

/**
 * `events` events through `insert`: in batches of 50 and a fifth of them one event each (both
 * shapes of the route, the single one as most traffic comes), the two shapes interleaved so that
 * a step stopped early (`stop`, see `MAKE_SHARE`) has run both, four requests at once. Answers
 * how many were accepted.
 */
async function insertAll(
  insert: InsertEvents,
  events: number,
  stop: () => boolean,
): Promise<number> {
  // Each request's number of events, in order: a batch, then its share of the single ones.
  const single = Math.ceil(events / 5);
  const singlesPerBatch = Math.ceil(single / Math.max(1, Math.ceil((events - single) / 50)));
  const sizes: number[] = [];
  for (let batched = events - single, singles = single; batched > 0 || singles > 0; ) {
    if (batched > 0) sizes.push(Math.min(50, batched));
    batched -= 50;
    for (let k = Math.min(singlesPerBatch, singles); k > 0; k--, singles--) sizes.push(1);
  }
  let accepted = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let n = sizes.shift(); n !== undefined && !stop(); n = sizes.shift()) {
        // Not `accepted += await insert(n)`: that reads `accepted` before the await, and the
        // four loops' additions would overwrite each other.
        const got = await insert(n);
        accepted += got;
      }
    }),
  );
  return accepted;
}

const WARM_UP_EVENT = {
  event: 'conversation.message',
  data: eventSamples['conversation.message'],
} as const;

/**
 * Through the API as any event, with the admin key: `POST /v1/events/batch`, or `POST
 * /v1/events` for one. A refused request (a rate limit) only means fewer deliveries.
 */
function throughApi(config: Config, accountId: string, call: Call): InsertEvents {
  const headers = {
    'user-agent': USER_AGENT,
    [TOKEN_HEADER]: TOKEN,
    authorization: `Bearer ${config.adminKey}`,
  };
  return async (n) => {
    const res =
      n === 1
        ? await call({
            method: 'POST',
            url: '/v1/events',
            headers,
            payload: { ...WARM_UP_EVENT, account_id: accountId },
          })
        : await call({
            method: 'POST',
            url: '/v1/events/batch',
            headers,
            payload: {
              account_id: accountId,
              events: Array.from({ length: n }, () => WARM_UP_EVENT),
            },
          });
    return res.statusCode === 202 ? n : 0;
  };
}

/**
 * In a worker, which serves no API: the envelopes the API would make, inserted through the store
 * (the fan-out to the warm-up's webhooks is the store's), then the engine woken, as the API does.
 */
function throughStore(
  store: Store,
  engine: Pick<DeliveryEngine, 'notify'>,
  accountId: string,
): InsertEvents {
  return async (n) => {
    const now = Date.now();
    const events = Array.from({ length: n }, () =>
      buildEnvelope(WARM_UP_EVENT.event, WARM_UP_EVENT.data, now),
    );
    const results = await store.insertEvents(accountId, events, now);
    engine.notify();
    return results.filter((r) => r.status === 'created').length;
  };
}

/** One attempt's headers, built and signed for a made-up delivery (nothing is sent). */
function warmDelivery(cipher: Cipher): void {
  const now = Date.now();
  const webhookId = newId('wh', now);
  const delivery: ClaimedDelivery = {
    id: newId('dlv', now),
    accountId: newId('acct', now),
    eventId: newId('evt', now),
    event: 'conversation.message',
    eventTimestamp: now,
    body: JSON.stringify({ data: eventSamples['conversation.message'] }),
    attemptCount: 0,
    trigger: 'scheduled',
    resumeAt: null,
    statusBefore: 'pending',
    webhook: {
      id: webhookId,
      url: 'http://127.0.0.1/warm-up',
      active: true,
      headersEnc: cipher.encrypt(
        JSON.stringify({ 'x-warm-up': '1' }),
        blobContext.webhookHeaders(webhookId),
      ),
      secretEnc: cipher.encrypt(generateSecret(), blobContext.webhookSecret(webhookId)),
      previousSecretEnc: null,
      previousSecretExpiresAt: null,
    },
  };
  new RequestBuilder(cipher, USER_AGENT).build(delivery, 1, now, false);
}
