import { describe, expect, it } from 'vitest';
import {
  type AnyWebhookEvent,
  type DedupeStore,
  DONE_TTL_MS,
  type ErrorContext,
  generateTestHeaders,
  isKnownEvent,
  MemoryDedupeStore,
  signPayload,
  Webhooks,
} from '../src/index.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Webhooks', () => {
  it('routes an event to its handlers and to onAny, answering 200', async () => {
    const webhooks = new Webhooks({ secret: SECRET });
    const calls: string[] = [];
    webhooks.on('conversation.message', (event) => {
      calls.push(`message:${event.data.message}`);
    });
    webhooks.on(['agent.created', 'conversation.message'], async (event) => {
      calls.push(`pair:${event.event}`);
    });
    webhooks.on('agent.deleted', () => {
      calls.push('wrong');
    });
    webhooks.onAny((event) => {
      calls.push(`any:${event.id}`);
    });
    const request = await generateTestHeaders('conversation.message', SECRET, { id: 'evt_a' });
    const result = await webhooks.receive(request);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ ok: true });
    expect(result.headers['content-type']).toContain('application/json');
    expect(calls.sort()).toEqual([
      'any:evt_a',
      'message:Hello, how can I help you?',
      'pair:conversation.message',
    ]);
  });

  it('an unknown event type reaches onAny and answers 2xx', async () => {
    const webhooks = new Webhooks({ secret: SECRET });
    const seen: AnyWebhookEvent[] = [];
    webhooks.onAny((event) => {
      seen.push(event);
    });
    const unknown = {
      id: 'evt_new',
      event: 'agent.teleported',
      timestamp: '2030-01-01T00:00:00Z',
      data: { where: 'mars' },
    };
    const result = await webhooks.receive(await generateTestHeaders(unknown, SECRET));
    expect(result.status).toBe(200);
    expect(seen).toEqual([unknown]);
    expect(isKnownEvent(seen[0]!)).toBe(false);
    const known = await generateTestHeaders('agent.created', SECRET);
    expect(isKnownEvent(known.event)).toBe(true);
  });

  it('on() refuses a name outside the catalog', () => {
    const webhooks = new Webhooks({ secret: SECRET });
    // @ts-expect-error not an event name
    expect(() => webhooks.on('agent.exploded', () => {})).toThrow(/onAny/);
  });

  it('401 on a bad signature, 400 on a parsed body, and onError sees both', async () => {
    const errors: [string, ErrorContext][] = [];
    const webhooks = new Webhooks({ secret: SECRET }).onError((error, context) => {
      errors.push([(error as { code: string }).code, context]);
      throw new Error('an error handler that throws changes nothing');
    });
    const request = await generateTestHeaders('agent.created', SECRET);
    const bad = await webhooks.receive({
      ...request,
      headers: { ...request.headers, 'webhook-signature': `v1,${btoa('x'.repeat(32))}` },
    });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body).error.code).toBe('signature_mismatch');
    const parsed = await webhooks.receive({ ...request, body: JSON.parse(request.body) });
    expect(parsed.status).toBe(400);
    expect(JSON.parse(parsed.body).error.code).toBe('body_already_parsed');
    const old = await webhooks.receive(
      await generateTestHeaders('agent.created', SECRET, { timestamp: 1_000_000_000 }),
    );
    expect(old.status).toBe(401);
    expect(errors.map(([code, { stage }]) => `${stage}:${code}`)).toEqual([
      'verification:signature_mismatch',
      'verification:body_already_parsed',
      'verification:timestamp_too_old',
    ]);
  });

  it('a handler error answers 500 so that the sender retries, and reaches onError', async () => {
    const reported: unknown[] = [];
    const webhooks = new Webhooks({ secret: SECRET })
      .on('agent.created', () => {
        throw new Error('database down');
      })
      .onError((error, { stage, event }) => {
        reported.push([stage, event?.id, (error as Error).message]);
      });
    const request = await generateTestHeaders('agent.created', SECRET, { id: 'evt_f' });
    const result = await webhooks.receive(request);
    expect(result.status).toBe(500);
    expect(JSON.parse(result.body).error.code).toBe('handler_failed');
    expect(result.body).not.toContain('database down');
    expect(reported).toEqual([['handler', 'evt_f', 'database down']]);
  });

  it('uses the injected clock and tolerance for verification', async () => {
    const t = 1_705_314_600;
    const request = await generateTestHeaders('agent.created', SECRET, { timestamp: t });
    const at = (seconds: number) =>
      new Webhooks({ secret: SECRET, now: () => seconds * 1000, toleranceSeconds: 60 });
    expect((await at(t + 60).receive(request)).status).toBe(200);
    expect((await at(t + 61).receive(request)).status).toBe(401);
    expect((await at(t - 61).receive(request)).status).toBe(401);
  });

  it('requireTimestamp refuses a body-only signature', async () => {
    const request = await generateTestHeaders('agent.created', SECRET);
    const bodyOnly = {
      body: request.body,
      headers: { 'x-agentfactory-signature': request.headers['x-agentfactory-signature']! },
    };
    expect((await new Webhooks({ secret: SECRET }).receive(bodyOnly)).status).toBe(200);
    const strict = new Webhooks({ secret: SECRET, requireTimestamp: true });
    expect((await strict.receive(bodyOnly)).status).toBe(401);
  });

  it('accepts during a rotation with either secret configured', async () => {
    const next = 'whsec_9Yx2kQ0c3oPZ1r7T8uVwXyZ0aBcDeFgHiJkLmNoPqRs=';
    const request = await generateTestHeaders('agent.created', [next, SECRET]);
    for (const secret of [SECRET, next, [SECRET, next]]) {
      expect((await new Webhooks({ secret }).receive(request)).status).toBe(200);
    }
  });

  it('refuses a bad secret or option at construction', () => {
    expect(() => new Webhooks({ secret: ` ${SECRET}` })).toThrow(/whitespace/);
    expect(() => new Webhooks({ secret: SECRET, toleranceSeconds: -1 })).toThrow(RangeError);
    expect(() => new Webhooks({ secret: SECRET, retryAfterSeconds: Number.NaN })).toThrow(
      RangeError,
    );
  });
});

describe('Webhooks dedupe', () => {
  it('a done copy answers 200 without running handlers again', async () => {
    let runs = 0;
    const webhooks = new Webhooks({ secret: SECRET, dedupe: true }).on('agent.created', () => {
      runs++;
    });
    const request = await generateTestHeaders('agent.created', SECRET);
    expect((await webhooks.receive(request)).status).toBe(200);
    const again = await webhooks.receive(request);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toEqual({ ok: true, duplicate: true });
    expect(runs).toBe(1);
  });

  it('a copy that arrives while the first is processing gets 409 with Retry-After', async () => {
    const gate = deferred();
    const started = deferred();
    let runs = 0;
    const webhooks = new Webhooks({ secret: SECRET, dedupe: true, retryAfterSeconds: 30 }).on(
      'agent.created',
      async () => {
        runs++;
        started.resolve();
        await gate.promise;
      },
    );
    const request = await generateTestHeaders('agent.created', SECRET);
    const first = webhooks.receive(request);
    await started.promise; // the first copy holds the id and is inside its handler
    const copy = await webhooks.receive(request);
    expect(copy.status).toBe(409);
    expect(copy.headers['retry-after']).toBe('30');
    expect(JSON.parse(copy.body).error.code).toBe('event_in_progress');
    gate.resolve();
    expect((await first).status).toBe(200);
    expect((await webhooks.receive(request)).status).toBe(200);
    expect(runs).toBe(1);
  });

  it('a handler failure releases the id, so the retry is handled', async () => {
    let runs = 0;
    const webhooks = new Webhooks({ secret: SECRET, dedupe: true }).on('agent.created', () => {
      runs++;
      if (runs === 1) throw new Error('transient');
    });
    const request = await generateTestHeaders('agent.created', SECRET);
    expect((await webhooks.receive(request)).status).toBe(500);
    expect((await webhooks.receive(request)).status).toBe(200);
    expect(JSON.parse((await webhooks.receive(request)).body)).toEqual({
      ok: true,
      duplicate: true,
    });
    expect(runs).toBe(2);
  });

  it('dedupes on the event id across retries signed at different times', async () => {
    let runs = 0;
    const webhooks = new Webhooks({ secret: SECRET, dedupe: true }).onAny(() => {
      runs++;
    });
    const t = Math.floor(Date.now() / 1000);
    const event = (await generateTestHeaders('agent.created', SECRET, { id: 'evt_same' })).event;
    const body = JSON.stringify(event);
    for (const timestamp of [t - 100, t]) {
      const headers = await signPayload({ body, secret: SECRET, id: event.id, timestamp });
      expect((await webhooks.receive({ body, headers })).status).toBe(200);
    }
    expect(runs).toBe(1);
  });

  it('takes a custom async store, and a failing store answers 500', async () => {
    const calls: string[] = [];
    const store: DedupeStore = {
      claim: async (id) => {
        calls.push(`claim:${id}`);
        if (id === 'evt_broken') throw new Error('redis down');
        return 'claimed';
      },
      complete: async (id) => {
        calls.push(`complete:${id}`);
      },
      release: async (id) => {
        calls.push(`release:${id}`);
      },
    };
    const webhooks = new Webhooks({ secret: SECRET, dedupe: store });
    const ok = await generateTestHeaders('agent.created', SECRET, { id: 'evt_ok' });
    expect((await webhooks.receive(ok)).status).toBe(200);
    const broken = await generateTestHeaders('agent.created', SECRET, { id: 'evt_broken' });
    expect((await webhooks.receive(broken)).status).toBe(500);
    expect(calls).toEqual(['claim:evt_ok', 'complete:evt_ok', 'claim:evt_broken']);
  });
});

describe('MemoryDedupeStore', () => {
  it('keeps done ids 25 h by default, then forgets them (injected clock)', async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ now: () => now });
    expect(await store.claim('a')).toBe('claimed');
    await store.complete('a');
    now = DONE_TTL_MS - 1;
    expect(await store.claim('a')).toBe('done');
    expect(DONE_TTL_MS).toBeGreaterThanOrEqual(25 * 3600 * 1000);
    now = DONE_TTL_MS + 1;
    expect(await store.claim('a')).toBe('claimed');
  });

  it('a processing claim expires, so a hung handler does not block the event forever', async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ now: () => now, processingTtlMs: 1000 });
    expect(await store.claim('a')).toBe('claimed');
    now = 999;
    expect(await store.claim('a')).toBe('processing');
    now = 1001;
    expect(await store.claim('a')).toBe('claimed');
  });

  it('release forgets a processing id but never a done one', async () => {
    const store = new MemoryDedupeStore();
    await store.claim('a');
    await store.release('a');
    expect(await store.claim('a')).toBe('claimed');
    await store.complete('a');
    await store.release('a');
    expect(await store.claim('a')).toBe('done');
  });

  it('evicts the least recently seen ids beyond maxEntries', async () => {
    const store = new MemoryDedupeStore({ maxEntries: 2 });
    for (const id of ['a', 'b']) {
      await store.claim(id);
      await store.complete(id);
    }
    expect(await store.claim('a')).toBe('done'); // touches a: b is now the oldest
    await store.claim('c');
    expect(store.size).toBe(2);
    expect(await store.claim('a')).toBe('done');
    expect(await store.claim('b')).toBe('claimed');
  });
});

describe('generateTestHeaders', () => {
  it('builds every header of SPEC §3 around the catalog sample', async () => {
    const { body, headers, event } = await generateTestHeaders('usage.limit', SECRET, {
      now: () => Date.UTC(2024, 0, 15, 10, 30, 0, 123),
      id: 'evt_x',
      attempt: 2,
    });
    expect(JSON.parse(body)).toEqual(event);
    expect(event).toMatchObject({
      id: 'evt_x',
      event: 'usage.limit',
      timestamp: '2024-01-15T10:30:00Z',
    });
    expect(Object.keys(headers).sort()).toEqual(
      [
        'content-type',
        'user-agent',
        'x-agentfactory-event',
        'x-agentfactory-event-id',
        'x-agentfactory-delivery',
        'x-agentfactory-attempt',
        'x-agentfactory-timestamp',
        'x-agentfactory-signature',
        'webhook-id',
        'webhook-timestamp',
        'webhook-signature',
      ].sort(),
    );
    expect(headers['x-agentfactory-attempt']).toBe('2');
    expect(headers['webhook-timestamp']).toBe(String(Date.UTC(2024, 0, 15, 10, 30) / 1000));
  });

  it('gives each generated event a distinct id', async () => {
    const a = await generateTestHeaders('agent.created', SECRET);
    const b = await generateTestHeaders('agent.created', SECRET);
    expect(a.event.id).not.toBe(b.event.id);
  });
});
