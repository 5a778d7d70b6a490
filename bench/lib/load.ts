/** Load generation: the ceiling (raw signed POSTs, no service) and event posting through the API. */
import { type Dispatcher, Pool } from 'undici';
import type { Api } from './api.js';
import { DeliverySigner, eventBody, sampleEvent, wallNow } from './delivery.js';
import type { Receiver, ReceiverProcess } from './processes.js';

export interface CeilingOptions {
  /** Endpoints, taken in order from the receiver processes' ports. */
  endpoints: number;
  /** Requests in flight at once, all endpoints together. */
  inFlight: number;
  /** POSTs measured. */
  total: number;
  /** POSTs sent first and not counted: connections open, code compiled on both sides. */
  warmUp: number;
  /**
   * How each POST is made: undici's `request` (a `Readable` answer, drained), or `dispatch` with
   * a handler, as the service's sender does (about half the sender's CPU per POST).
   */
  client: 'request' | 'dispatch';
}

export interface CeilingResult {
  perS: number;
  seconds: number;
  /** Deliveries the receivers counted in the measured round (expected: `total`). */
  received: number;
  duplicates: number;
  /** CPU seconds (user + system) over the measured round: the sending process, the receivers. */
  senderCpuS: number;
  receiversCpuS: number;
}

/**
 * One POST through `dispatch`, its answer's body read and dropped: answers the status. The lean
 * client the service's sender uses, for the ceiling and the peer alike.
 */
export function dispatchPost(
  dispatcher: Dispatcher,
  request: Dispatcher.DispatchOptions,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    // The handler interface a Pool takes as it is (an Agent wraps either kind).
    dispatcher.dispatch(request, {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        resolve(status);
      },
      onError(err) {
        reject(err);
      },
    });
  });
}

/**
 * The machine's ceiling: signed POSTs straight to counting receivers, with no service and no
 * database. Each event's body is serialized once and sent to each endpoint in turn (fan-out
 * `endpoints`), every POST signed by the service's `RequestBuilder` (`delivery.ts`); undici
 * keep-alive pools, one per endpoint, `inFlight` requests at once, after a warm-up round that is
 * not counted. Deliveries per second at the sender, from the first measured request to the last
 * answer.
 */
export async function ceiling(
  receivers: ReceiverProcess[],
  opts: CeilingOptions,
): Promise<CeilingResult> {
  const ports = receivers.flatMap((r) => r.ports).slice(0, opts.endpoints);
  if (ports.length < opts.endpoints) throw new Error('fewer receiver ports than endpoints');
  const pools = ports.map(
    (port) =>
      new Pool(`http://127.0.0.1:${port}`, {
        connections: opts.inFlight,
        pipelining: 1,
        keepAliveTimeout: 30_000,
      }),
  );
  const signer = new DeliverySigner(ports.length);
  const tag = `${process.pid}_${Math.round(wallNow())}`;
  let seq = 0;
  const round = async (count: number) => {
    let next = 0;
    let eventNo = 0;
    let eventId = '';
    let body = '';
    const worker = async () => {
      for (;;) {
        if (next >= count) return;
        const i = next++;
        const endpoint = i % ports.length;
        if (endpoint === 0) {
          eventNo = seq++;
          eventId = `evt_ceiling_${tag}_${eventNo}`;
          body = eventBody(eventId, eventNo);
        }
        const deliveryId = `dlv_ceiling_${tag}_${eventNo}_${endpoint}`;
        const request = {
          method: 'POST' as const,
          path: '/webhook',
          body,
          headers: signer.headers(endpoint, eventId, deliveryId, body),
        };
        const status =
          opts.client === 'dispatch'
            ? await dispatchPost(pools[endpoint]!, request)
            : await pools[endpoint]!.request(request).then(async (res) => {
                await res.body.dump();
                return res.statusCode;
              });
        if (status !== 200) throw new Error(`receiver answered ${status}`);
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight }, worker));
  };
  try {
    await round(opts.warmUp);
    await Promise.all(receivers.map((r) => r.reset()));
    const before = await Promise.all(receivers.map((r) => r.stats()));
    const cpu0 = process.cpuUsage();
    const started = wallNow();
    await round(opts.total);
    const seconds = (wallNow() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const after = await Promise.all(receivers.map((r) => r.stats()));
    return {
      perS: opts.total / seconds,
      seconds,
      received: after.reduce((n, s) => n + s.received, 0),
      duplicates: after.reduce((n, s) => n + s.duplicates, 0),
      senderCpuS: (cpu.user + cpu.system) / 1e6,
      receiversCpuS: after.reduce((n, s, k) => n + s.cpuUs - before[k]!.cpuUs, 0) / 1e6,
    };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
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
  receivers: Pick<Receiver, 'stats'>[],
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
