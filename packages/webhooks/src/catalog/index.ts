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

/** True when `name` is an event type of the catalog. */
export function isEventName(name: string): name is EventName {
  return Object.hasOwn(eventSchemas, name);
}
