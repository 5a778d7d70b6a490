import type { EventName } from '../generated/events.js';
import { eventDescriptions } from './descriptions.js';
import { eventSamples } from './samples.js';
import { eventSchemas } from './schemas.js';

export { eventDescriptions, eventSamples, eventSchemas };

/** Every event type of the catalog, in catalog order. */
export const eventNames = Object.keys(eventSchemas) as EventName[];

/** One entry of the catalog, as `GET /v1/event-types` serves it. */
export interface EventTypeInfo<N extends EventName = EventName> {
  name: N;
  description: string;
  schema: (typeof eventSchemas)[N];
  sample: (typeof eventSamples)[N];
}

/**
 * The whole catalog: name, description, JSON Schema and sample of every event type.
 *
 * @example
 * for (const { name, description } of eventCatalog) console.log(name, description);
 */
export const eventCatalog: EventTypeInfo[] = eventNames.map((name) => ({
  name,
  description: eventDescriptions[name],
  schema: eventSchemas[name],
  sample: eventSamples[name],
}));

/**
 * The operational events: the service emits them about an account's own webhooks (health,
 * certificates), and nobody may post them. They are delivered like any event to the webhooks
 * that subscribe to them, never to the webhook they are about.
 */
export const operationalEventNames = [
  'webhook.failing',
  'webhook.disabled',
  'webhook.recovered',
  'webhook.certificate_expiring',
] as const satisfies readonly EventName[];

export type OperationalEventName = (typeof operationalEventNames)[number];

/**
 * True when `name` is an operational event (see `operationalEventNames`).
 *
 * @example
 * isOperationalEvent('webhook.failing'); // true
 * isOperationalEvent('agent.created'); // false
 */
export function isOperationalEvent(name: string): name is OperationalEventName {
  return (operationalEventNames as readonly string[]).includes(name);
}

/** True when `name` is an event type of the catalog. */
export function isEventName(name: string): name is EventName {
  return Object.hasOwn(eventSchemas, name);
}
