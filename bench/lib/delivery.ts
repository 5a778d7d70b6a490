/**
 * What one delivery is on the wire, for the senders that stand in for the service (the ceiling
 * and the graphile-worker peer): the event's envelope serialized once per event, and the headers
 * built and signed by the service's own `RequestBuilder` (`apps/server/src/delivery/request.ts`:
 * the webhook's secret decrypted, both signature schemes with `node:crypto`, the SDK's header
 * names), so every POST carries what a delivery carries and costs the sender what it costs the
 * service to sign one.
 */
import { randomBytes } from 'node:crypto';
import { eventSamples } from '@agentfactory/webhooks';
import { RequestBuilder } from '../../apps/server/src/delivery/request.js';
import { createCipher } from '../../apps/server/src/security/crypto.js';
import type { ClaimedDelivery } from '../../apps/server/src/store/types.js';

export const wallNow = () => performance.timeOrigin + performance.now();

/** One event as the load generator posts it; `bench_sent_at` gives the receivers the latency. */
export function sampleEvent(i: number) {
  return {
    event: 'conversation.message' as const,
    data: {
      ...eventSamples['conversation.message'],
      message_id: `msg_${i}`,
      bench_sent_at: wallNow(),
    },
  };
}

/** The envelope `{id, event, timestamp, data}` as the service serializes it: one body per event. */
export function eventBody(eventId: string, i: number): string {
  const e = sampleEvent(i);
  return JSON.stringify({
    id: eventId,
    event: e.event,
    timestamp: new Date().toISOString(),
    data: e.data,
  });
}

/** Signs deliveries to `endpoints` webhooks, each with its own secret, as the service does. */
export class DeliverySigner {
  private readonly builder: RequestBuilder;
  private readonly secretsEnc: string[];

  constructor(endpoints: number) {
    const cipher = createCipher(randomBytes(32).toString('base64'));
    this.builder = new RequestBuilder(cipher, 'AgentFactory-Webhooks/0.1.0');
    this.secretsEnc = Array.from({ length: endpoints }, () =>
      cipher.encrypt(`whsec_${randomBytes(24).toString('base64')}`),
    );
  }

  /** The headers of the first attempt of delivery `deliveryId` of `eventId` to `endpoint`. */
  headers(endpoint: number, eventId: string, deliveryId: string, body: string) {
    const now = Date.now();
    const claimed: ClaimedDelivery = {
      id: deliveryId,
      accountId: 'acc_bench',
      eventId,
      event: 'conversation.message',
      eventTimestamp: now,
      body,
      attemptCount: 0,
      trigger: 'scheduled',
      resumeAt: null,
      statusBefore: 'pending',
      webhook: {
        id: `wh_bench_${endpoint}`,
        url: '',
        active: true,
        headersEnc: null,
        secretEnc: this.secretsEnc[endpoint]!,
        previousSecretEnc: null,
        previousSecretExpiresAt: null,
      },
    };
    return this.builder.build(claimed, 1, now, false).headers;
  }
}
