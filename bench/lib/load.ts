/** Load generation: the ceiling (raw signed POSTs, no service) and event posting through the API. */
import { eventSamples, signPayload } from '@agentfactory/webhooks';
import { Pool } from 'undici';
import type { Api } from './api.js';
import type { Receiver } from './processes.js';

const wallNow = () => performance.timeOrigin + performance.now();

function sampleEvent(i: number) {
  return {
    event: 'conversation.message' as const,
    data: {
      ...eventSamples['conversation.message'],
      message_id: `msg_${i}`,
      bench_sent_at: wallNow(),
    },
  };
}

/**
 * The hardware's ceiling: signed POSTs with undici straight to the receivers (keep-alive, 64 in
 * flight), round-robin, with no service and no database. Deliveries per second.
 */
export async function ceiling(receivers: Receiver[], total: number): Promise<number> {
  const pools = receivers.map((r) => new Pool(`http://127.0.0.1:${r.port}`, { connections: 64 }));
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  let next = 0;
  const started = wallNow();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const id = `evt_ceiling_${i}`;
      const body = JSON.stringify({
        id,
        event: 'conversation.message',
        timestamp: new Date().toISOString(),
        data: sampleEvent(i).data,
      });
      const headers = await signPayload({
        body,
        secret,
        id,
        timestamp: Math.floor(Date.now() / 1000),
      });
      const res = await pools[i % pools.length]!.request({
        method: 'POST',
        path: '/webhook',
        body,
        headers: {
          'content-type': 'application/json',
          'x-agentfactory-event-id': id,
          'x-agentfactory-delivery': `dlv_${i}`,
          ...headers,
        },
      });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const seconds = (wallNow() - started) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  return total / seconds;
}

/** Posts `count` events through `POST /v1/events/batch` (100 per request, `parallel` requests in flight). */
export async function postBatches(api: Api, count: number, parallel = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const start = next;
      if (start >= count) return;
      const n = Math.min(100, count - start);
      next += n;
      const events = Array.from({ length: n }, (_, k) => sampleEvent(start + k));
      await api.call('POST', '/v1/events/batch', { events });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** Posts single events at a steady rate for `seconds` (`POST /v1/events`). */
export async function postSteady(api: Api, perSecond: number, seconds: number): Promise<number> {
  const total = perSecond * seconds;
  const started = wallNow();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - wallNow();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(api.call('POST', '/v1/events', sampleEvent(i)));
  }
  await Promise.all(pending);
  return total;
}

/** Waits until the receivers together have `expected` distinct deliveries, or the timeout. */
export async function waitForDeliveries(
  receivers: Receiver[],
  expected: number,
  timeoutMs: number,
) {
  const deadline = wallNow() + timeoutMs;
  // The receiver hands over its latency samples once, so they are gathered across polls.
  const latencies: number[] = [];
  for (;;) {
    const stats = await Promise.all(receivers.map((r) => r.stats()));
    for (const s of stats) latencies.push(...s.latencies);
    const received = stats.reduce((n, s) => n + s.received, 0);
    if (received >= expected || wallNow() > deadline) {
      return {
        received,
        duplicates: stats.reduce((n, s) => n + s.duplicates, 0),
        lastAt: Math.max(...stats.map((s) => s.lastAt)),
        /** The first delivery's arrival at any receiver; Infinity if none arrived. */
        firstAt: Math.min(...stats.map((s) => s.firstAt || Number.POSITIVE_INFINITY)),
        latencies,
        maxInFlight: Math.max(...stats.map((s) => s.maxInFlight)),
        complete: received >= expected,
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { wallNow };
