/**
 * Hostile receivers (issue 11, points 1 and 8), on SQLite and on PostgreSQL: the real service,
 * account H ("hostile") with one webhook per kind of hostile answer, each on its own raw
 * `node:net` server (helpers/raw-server.ts) so the bytes on the wire are exactly the test's, and
 * account G ("good") with one healthy webhook on a normal loopback receiver.
 *
 * For every kind of answer, in this order (so a failure says which rule broke first):
 *  1. every H delivery has its attempt (max retries 0: one attempt, then `succeeded` or `failed`);
 *  2. the attempt's `status_code` and `error` (SPEC §5 codes), and the delivery's status;
 *  3. the response headers as received;
 *  4. the body, kept faithfully (SPEC §4/§5): `response_body_encoding` is `"utf8"` when the
 *     recorded bytes (the first 4096; a multi-byte character cut by the cap is dropped from the
 *     end) are valid UTF-8 without NUL, and `response_body` is that text; otherwise `"base64"` and
 *     `response_body` is the base64 of the exact first 4096 bytes; both null when nothing was read.
 * Beside them, G's 20 events all arrive at G's receiver, verified, within 10 s, and end
 * `succeeded`; the service answers `/healthz`; no H delivery is left `pending` with 0 attempts.
 *
 * Retries are off (`AF_MAX_RETRIES=0`) and the delivery timeout is 1 s, so nothing waits for a
 * backoff; private networks are allowed explicitly (the receivers are on loopback).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { constructEvent, eventSamples } from '@agentfactory/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Call, client } from './helpers/client.js';
import { describePostgres } from './helpers/postgres.js';
import {
  answer,
  blackHole,
  endless,
  garbage,
  hangUp,
  type RawBehavior,
  type RawServer,
  reset,
  startRawServer,
  trickle,
} from './helpers/raw-server.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const ENV: Record<string, string> = {
  AF_MAX_RETRIES: '0',
  AF_RETRY_BASE_DELAY: '50ms',
  AF_RETRY_JITTER: '0',
  AF_DELIVERY_TIMEOUT: '1s',
  AF_ALLOW_PRIVATE_NETWORKS: 'true',
};

/** SPEC §4: the first 4 KiB of a body are recorded. */
const CAP = 4096;
/** Events posted for H; each reaches every H webhook. */
const H_EVENTS = 3;
/** Events posted for G, and how long they may take to arrive, all of them. */
const G_EVENTS = 20;
const G_DEADLINE_MS = 10_000;
/** How long H's deliveries may take to leave `pending` (the slowest case is a 1 s timeout). */
const H_DEADLINE_MS = 15_000;

type Body = 'exact' | 'prefix' | 'none';

interface HostileCase {
  key: string;
  title: string;
  behavior: RawBehavior;
  status: number | null;
  error: string | null;
  /** `exact`: the recorded body follows the contract for exactly the body bytes sent; `prefix`:
   * null or a prefix of them (an answer cut by the timeout); `none`: nothing was read. */
  body: Body;
  /** Expected response headers (a subset), or a check of them. */
  headers?: (h: Record<string, string>) => void;
  /** Extra checks on what the raw server saw, after the attempts are recorded. */
  wire?: (server: RawServer) => Promise<void> | void;
}

const NUL_BODY = Buffer.from('ok\0\0binary\0');
const INVALID_UTF8 = Buffer.concat([
  Buffer.from('bad: '),
  Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
  Buffer.from(' end'),
]);
const GZIP_PAGE = '<html><body><h1>502 Bad Gateway</h1><p>upstream went away</p></body></html>\n';
const GZIP_BODY = gzipSync(Buffer.from(GZIP_PAGE.repeat(20)));
const CONTROL_TEXT = `ctl:${Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('')}\x7f:end é`;
const LATIN1_VALUE = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0xa0, 0xff]); // "café \x80\xa0ÿ"
const LONG_VALUE = 'L'.repeat(8192);
const MANY = 100;
// 4094 ASCII bytes, then a 4-byte character across the cut at 4096, then more text.
const STRADDLE = Buffer.from(`${'a'.repeat(CAP - 2)}😀${'b'.repeat(100)}`, 'utf8');
const ENDLESS_CHUNK = Buffer.from('endless body. '.repeat(256));
const TRICKLE_CHUNK = Buffer.from('drip ');

const CASES: HostileCase[] = [
  {
    key: 'nul-200',
    title: '1. a 200 with NUL bytes in the body',
    behavior: answer('200 OK', NUL_BODY, ['Content-Type: application/octet-stream']),
    status: 200,
    error: null,
    body: 'exact',
  },
  {
    key: 'nul-500',
    title: '1. a 500 with NUL bytes in the body',
    behavior: answer('500 Internal Server Error', NUL_BODY),
    status: 500,
    error: 'response_status',
    body: 'exact',
  },
  {
    key: 'invalid-utf8',
    title: '2. invalid UTF-8 bytes in the body',
    behavior: answer('200 OK', INVALID_UTF8, ['Content-Type: text/plain; charset=utf-8']),
    status: 200,
    error: null,
    body: 'exact',
  },
  {
    key: 'gzip',
    title: '3. a gzip-compressed body with Content-Encoding: gzip (not decoded)',
    behavior: answer('502 Bad Gateway', GZIP_BODY, [
      'Content-Type: text/html',
      'Content-Encoding: gzip',
    ]),
    status: 502,
    error: 'response_status',
    body: 'exact',
    headers: (h) => expect(h['content-encoding']).toBe('gzip'),
  },
  {
    key: 'control-chars',
    title: '4. control characters in a valid UTF-8 body, no NUL',
    behavior: answer('200 OK', Buffer.from(CONTROL_TEXT, 'utf8')),
    status: 200,
    error: null,
    body: 'exact',
  },
  {
    key: 'header-latin1',
    title: '5. latin-1 bytes (0x80-0xff) in a header value',
    behavior: answer('200 OK', Buffer.from('ok'), [
      'Content-Type: text/plain',
      Buffer.concat([Buffer.from('X-Latin: '), LATIN1_VALUE]),
    ]),
    status: 200,
    error: null,
    body: 'exact',
    // Header bytes are read as latin-1 (one code point per byte), so nothing is lost.
    headers: (h) => expect(h['x-latin']).toBe(LATIN1_VALUE.toString('latin1')),
  },
  {
    key: 'header-long',
    title: '5. an 8 KB header value',
    behavior: answer('200 OK', Buffer.from('ok'), [
      'Content-Type: text/plain',
      `X-Long: ${LONG_VALUE}`,
    ]),
    status: 200,
    error: null,
    body: 'exact',
    headers: (h) => expect(h['x-long']).toBe(LONG_VALUE),
  },
  {
    key: 'header-many',
    title: '5. 100 headers',
    behavior: answer('200 OK', Buffer.from('ok'), [
      'Content-Type: text/plain',
      ...Array.from({ length: MANY }, (_, i) => `X-Many-${i}: value ${i}`),
    ]),
    status: 200,
    error: null,
    body: 'exact',
    headers: (h) => {
      for (let i = 0; i < MANY; i++) expect(h[`x-many-${i}`]).toBe(`value ${i}`);
    },
  },
  {
    key: 'header-nul',
    // llhttp refuses NUL in a header value, so no header is ever stored with one: the answer is
    // a parse error, recorded as an attempt like any other network error.
    title: '5. a NUL byte in a header value (llhttp refuses the response)',
    behavior: answer('200 OK', Buffer.from('ok'), ['Content-Type: text/plain', 'X-Nul: a\0b']),
    status: null,
    error: 'connection_error',
    body: 'none',
  },
  {
    key: 'endless',
    title: '6. an endless body, as fast as the client reads',
    behavior: endless(ENDLESS_CHUNK),
    status: 200,
    // The status arrived; the first 4 KiB are kept, up to 64 KiB more are drained and dropped,
    // then the connection is destroyed: a 2xx whose body never ends counts as a success.
    error: null,
    body: 'exact',
    wire: stoppedWriting,
  },
  {
    key: 'trickle',
    title: '6. an endless body that trickles (ends as a timeout)',
    behavior: trickle(TRICKLE_CHUNK),
    status: 200,
    error: 'timeout',
    body: 'prefix',
    wire: stoppedWriting,
  },
  {
    key: 'garbage',
    title: '7. garbage instead of HTTP',
    behavior: garbage(Buffer.from('\x00\x01garbage\r\n\r\n', 'latin1')),
    status: null,
    error: 'connection_error',
    body: 'none',
  },
  {
    key: 'reset',
    title: '8. a TCP reset right after the request',
    behavior: reset(),
    status: null,
    error: 'connection_error',
    body: 'none',
  },
  {
    key: 'hang-up',
    title: '8. the connection closed right after the request, no answer',
    behavior: hangUp(),
    status: null,
    error: 'connection_error',
    body: 'none',
  },
  {
    key: 'status-599',
    title: '9. HTTP/1.1 599 Whatever',
    behavior: answer('599 Whatever', Buffer.from('odd status')),
    status: 599,
    error: 'response_status',
    body: 'exact',
  },
  {
    key: 'status-299',
    title: '9. HTTP/1.1 299 OK (a 2xx: success)',
    behavior: answer('299 OK', Buffer.from('odd success')),
    status: 299,
    error: null,
    body: 'exact',
  },
  {
    key: 'black-hole',
    title: '10. accepts and never answers (a timeout)',
    behavior: blackHole(),
    status: null,
    error: 'timeout',
    body: 'none',
  },
  {
    key: 'straddle',
    title: '11. a body over 4 KiB with a multi-byte character across the 4096-byte cut',
    behavior: answer('200 OK', STRADDLE, ['Content-Type: text/plain; charset=utf-8']),
    status: 200,
    error: null,
    body: 'exact',
  },
];

// ---- the contract for a recorded body ---------------------------------------------------------

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Drops a multi-byte character the cap cut in two from the end of `b`. */
function dropCutCharacter(b: Buffer): Buffer {
  for (let back = 1; back <= Math.min(4, b.length); back++) {
    const byte = b[b.length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? b.subarray(0, b.length - back) : b;
  }
  return b;
}

/** What the attempt must hold for a body whose bytes on the wire were `sent`. */
function expectedRecord(sent: Buffer): {
  response_body_encoding: 'utf8' | 'base64' | null;
  response_body: string | null;
} {
  if (sent.length === 0) return { response_body_encoding: null, response_body: null };
  const kept = sent.subarray(0, CAP);
  const text = sent.length > CAP ? dropCutCharacter(kept) : kept;
  if (!text.includes(0)) {
    try {
      return { response_body_encoding: 'utf8', response_body: strictUtf8.decode(text) };
    } catch {
      // not UTF-8: base64 below
    }
  }
  return { response_body_encoding: 'base64', response_body: kept.toString('base64') };
}

/** The bytes an attempt's recorded body stands for. */
function recordedBytes(a: Attempt): Buffer | null {
  if (a.response_body === null) return null;
  return a.response_body_encoding === 'base64'
    ? Buffer.from(a.response_body, 'base64')
    : Buffer.from(a.response_body, 'utf8');
}

/** An endless writer stopped when the client closed: no bytes after, never its own cap. */
async function stoppedWriting(server: RawServer): Promise<void> {
  await poll(() => server.requests().every((c) => c.closed), 5_000);
  for (const c of server.requests()) {
    expect(c.closed, 'the client closed the connection').toBe(true);
    expect(c.endlessCapHit, 'the client stopped reading before the writer cap').toBe(false);
    expect(c.writesAfterClose).toBe(0);
  }
}

// ---- the suite, once per store -----------------------------------------------------------------

interface Attempt {
  status_code: number | null;
  error: string | null;
  response_headers: Record<string, string>;
  response_body: string | null;
  response_body_encoding?: 'utf8' | 'base64' | null;
}

interface Delivery {
  id: string;
  webhook_id: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  attempts: Attempt[];
}

/** Polls `check` every 50 ms until true or `timeoutMs`; says whether it became true. */
async function poll(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function hostileSuite(start: () => Promise<TestServer>): void {
  const servers = new Map<string, RawServer>();
  /** Webhook id → case. */
  const caseOf = new Map<string, HostileCase>();
  /** H's deliveries as `GET /v1/deliveries/{id}` answered after the deadline, per case key. */
  const deliveries = new Map<string, Delivery[]>();
  let service: TestServer | undefined;
  let good: Receiver | undefined;
  let h: Call;
  let g: Call;
  let gSecret = '';
  const gEvents: string[] = [];
  /** G's event ids verified at G's receiver, and when the last one arrived (ms after posting). */
  const gVerified = new Set<string>();
  const gFailures: string[] = [];
  let gAllArrivedAfterMs: number | null = null;
  let hSettled = false;
  let hDeliveryCount = 0;

  beforeAll(async () => {
    service = await start();
    const admin = client(service.url, service.adminKey);
    const accountH = await admin('POST', '/v1/accounts', { name: 'H (hostile)' });
    const accountG = await admin('POST', '/v1/accounts', { name: 'G (good)' });
    expect(accountH.status).toBe(201);
    expect(accountG.status).toBe(201);
    h = client(service.url, accountH.body.api_key);
    g = client(service.url, accountG.body.api_key);

    good = await startReceiver();
    const gHook = await g('POST', '/v1/webhooks', { name: 'good', url: good.url, events: ['*'] });
    expect(gHook.status).toBe(201);
    gSecret = gHook.body.secret;

    for (const c of CASES) {
      const server = await startRawServer(c.behavior);
      servers.set(c.key, server);
      const hook = await h('POST', '/v1/webhooks', { name: c.key, url: server.url, events: ['*'] });
      expect(hook.status, `webhook for ${c.key}: ${hook.text}`).toBe(201);
      caseOf.set(hook.body.id, c);
    }

    // H's events first, then G's: G's must arrive beside whatever H's receivers do.
    const hEventIds: string[] = [];
    for (let i = 0; i < H_EVENTS; i++) {
      const e = await h('POST', '/v1/events', {
        event: 'agent.created',
        data: eventSamples['agent.created'],
      });
      expect(e.status).toBe(202);
      hEventIds.push(e.body.id);
    }
    const gStart = Date.now();
    for (let i = 0; i < G_EVENTS; i++) {
      const e = await g('POST', '/v1/events', {
        event: 'agent.created',
        data: eventSamples['agent.created'],
      });
      expect(e.status).toBe(202);
      gEvents.push(e.body.id);
    }

    // G: every event at the receiver, verified with the SDK, within the deadline.
    const receiver = good;
    let checked = 0;
    const gWait = poll(async () => {
      for (; checked < receiver.requests.length; checked++) {
        const r = receiver.requests[checked]!;
        try {
          const event = await constructEvent(r.body, r.headers, gSecret, {
            requireTimestamp: true,
          });
          gVerified.add(event.id);
        } catch (err) {
          gFailures.push(String(err));
        }
      }
      if (gEvents.every((id) => gVerified.has(id))) {
        gAllArrivedAfterMs = Date.now() - gStart;
        return true;
      }
      return false;
    }, G_DEADLINE_MS);

    // H: every delivery leaves `pending` (max retries 0), or the deadline passes.
    hDeliveryCount = CASES.length * H_EVENTS;
    const hWait = poll(async () => {
      const list = await h('GET', '/v1/deliveries?limit=250');
      const data = (list.body?.data ?? []) as { status: string }[];
      return data.length >= hDeliveryCount && data.every((d) => d.status !== 'pending');
    }, H_DEADLINE_MS);

    [, hSettled] = await Promise.all([gWait, hWait]);

    // One read of every H delivery, whatever state it reached.
    const ids: string[] = [];
    for (const id of hEventIds) {
      const e = await h('GET', `/v1/events/${id}`);
      ids.push(...((e.body?.delivery_ids ?? []) as string[]));
    }
    for (const id of ids) {
      const d = (await h('GET', `/v1/deliveries/${id}`)).body as Delivery;
      const c = caseOf.get(d.webhook_id);
      if (!c) continue;
      deliveries.set(c.key, [...(deliveries.get(c.key) ?? []), d]);
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of servers.values()) await s.close();
    await good?.close();
    await service?.close();
  }, 30_000);

  it("G's events all arrive at G's receiver, verified, within 10 s", () => {
    expect(gFailures, 'signature verification failures').toEqual([]);
    const missing = gEvents.filter((id) => !gVerified.has(id));
    expect(missing, `G events not arrived within ${G_DEADLINE_MS} ms`).toEqual([]);
    expect(gAllArrivedAfterMs).not.toBeNull();
  });

  it("G's deliveries end succeeded", async () => {
    let succeeded = 0;
    await poll(async () => {
      const list = await g('GET', '/v1/deliveries?limit=250&status=succeeded');
      succeeded = list.body?.data?.length ?? 0;
      return succeeded >= G_EVENTS;
    }, 5_000);
    expect(succeeded, `G's deliveries recorded succeeded (of ${G_EVENTS})`).toBe(G_EVENTS);
  });

  for (const c of CASES) {
    it(c.title, async () => {
      const list = deliveries.get(c.key) ?? [];
      expect(list, `${c.key}: its ${H_EVENTS} deliveries`).toHaveLength(H_EVENTS);
      const server = servers.get(c.key)!;
      // 1. An attempt was recorded for each delivery (not a write error, not a lease loop).
      for (const d of list) {
        expect(
          d.attempts,
          `${c.key}: delivery ${d.id} has no attempt record (status ${d.status}, attempt_count ${d.attempt_count})`,
        ).toHaveLength(1);
      }
      for (const d of list) {
        const a = d.attempts[0]!;
        // 2. Status and error code; the delivery ended (max retries 0).
        expect({ status_code: a.status_code, error: a.error }, `${c.key}: ${d.id}`).toEqual({
          status_code: c.status,
          error: c.error,
        });
        expect(d.status).toBe(c.error === null ? 'succeeded' : 'failed');
        // 3. Response headers as received.
        c.headers?.(a.response_headers);
        // 4. The body, with its encoding.
        const conn = server.forDelivery(d.id);
        expect(conn, `${c.key}: the raw server saw delivery ${d.id}`).toBeDefined();
        expect(
          a,
          `${c.key}: the attempt has response_body_encoding (body on main: ${JSON.stringify(a.response_body?.slice(0, 40))})`,
        ).toHaveProperty('response_body_encoding');
        const sent = conn!.bodySent();
        if (c.body === 'none') {
          expect({
            response_body_encoding: a.response_body_encoding,
            response_body: a.response_body,
          }).toEqual({ response_body_encoding: null, response_body: null });
        } else if (c.body === 'exact') {
          expect({
            response_body_encoding: a.response_body_encoding,
            response_body: a.response_body,
          }).toEqual(expectedRecord(sent));
          const got = recordedBytes(a)!;
          const want = expectedRecord(sent);
          const wantBytes =
            want.response_body_encoding === 'base64'
              ? sent.subarray(0, CAP)
              : Buffer.from(want.response_body ?? '', 'utf8');
          expect(got.equals(wantBytes), `${c.key}: decoded bytes equal the bytes sent`).toBe(true);
        } else {
          const got = recordedBytes(a);
          if (got !== null) {
            expect(got.length).toBeLessThanOrEqual(CAP);
            expect(
              sent.subarray(0, got.length).equals(got),
              `${c.key}: a prefix of the bytes sent`,
            ).toBe(true);
          }
        }
      }
      if (c.key === 'gzip') {
        // The kept bytes are the compressed ones: they gunzip to the page the server compressed.
        const a = list[0]!.attempts[0]!;
        expect(gunzipSync(recordedBytes(a)!).toString()).toBe(GZIP_PAGE.repeat(20));
      }
      await c.wire?.(server);
    });
  }

  it('no H delivery is left pending with 0 attempts; the service still answers /healthz', async () => {
    const all = [...deliveries.values()].flat();
    expect(all).toHaveLength(hDeliveryCount);
    const stuck = all.filter((d) => d.status === 'pending' && d.attempts.length === 0);
    expect(
      stuck.map((d) => `${caseOf.get(d.webhook_id)?.key}: ${d.id}`),
      'H deliveries pending with 0 attempts after the deadline',
    ).toEqual([]);
    expect(hSettled, `every H delivery left pending within ${H_DEADLINE_MS} ms`).toBe(true);
    expect((await fetch(`${service!.url}/healthz`)).status).toBe(200);
  });
}

describe('hostile receivers, SQLite', () => {
  hostileSuite(() => startTestServer(ENV));
});

await describePostgres('hostile receivers, PostgreSQL', (pg) => {
  hostileSuite(() =>
    startTestServer(
      {
        ...ENV,
        DATABASE_URL: pg.url,
        AF_ADMIN_KEY: 'admin-key-for-hostile-receiver-tests',
        AF_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      { databaseSchema: pg.freshSchema() },
    ),
  );
});
