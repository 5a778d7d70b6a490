import { eventSamples, isEventName } from './catalog/index.js';
import type { AgentFactoryEvent, EventName } from './generated/events.js';
import { signPayload } from './sign.js';
import type { UnknownWebhookEvent } from './webhooks.js';

export interface TestRequestOptions {
  /** Unix seconds to sign at. Default: now, from `now` or `Date.now`. */
  timestamp?: number;
  /** The clock used when `timestamp` is not given: milliseconds since the epoch. */
  now?: () => number;
  /** The event id when `event` is a name. Default a fresh `evt_test_…`. */
  id?: string;
  /** `X-AgentFactory-Attempt`. Default 1. */
  attempt?: number;
}

/** A signed request, as Agent Factory would send it: POST these headers with this exact body. */
export interface TestRequest {
  body: string;
  headers: Record<string, string>;
  event: AgentFactoryEvent | UnknownWebhookEvent;
}

let counter = 0;

/**
 * Builds a signed request for your receiver's tests: give an event name (its catalog sample is
 * used) or a whole event, and the endpoint secret. Returns the exact body to send, every header
 * of SPEC §3, and the event.
 *
 * @example
 * const { body, headers } = await generateTestHeaders('conversation.message', secret);
 * const res = await fetch('http://127.0.0.1:3000/webhooks', { method: 'POST', body, headers });
 * expect(res.status).toBe(200);
 */
export async function generateTestHeaders(
  event: EventName | AgentFactoryEvent | UnknownWebhookEvent,
  secret: string | readonly string[],
  options: TestRequestOptions = {},
): Promise<TestRequest> {
  const nowMs = (options.now ?? Date.now)();
  const full: AgentFactoryEvent | UnknownWebhookEvent =
    typeof event === 'string'
      ? ({
          id: options.id ?? `evt_test_${nowMs.toString(36)}${(counter++).toString(36)}`,
          event,
          timestamp: new Date(nowMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          data: isEventName(event) ? structuredClone(eventSamples[event]) : {},
        } as AgentFactoryEvent)
      : event;
  const body = JSON.stringify(full);
  const timestamp = options.timestamp ?? Math.floor(nowMs / 1000);
  const signature = await signPayload({ body, secret, id: full.id, timestamp });
  return {
    body,
    event: full,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'AgentFactory-Webhooks/test',
      'x-agentfactory-event': full.event,
      'x-agentfactory-event-id': full.id,
      'x-agentfactory-delivery': `dlv_test_${full.id}`,
      'x-agentfactory-attempt': String(options.attempt ?? 1),
      ...signature,
    },
  };
}
