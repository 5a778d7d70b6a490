/**
 * @agentfactory/webhooks — verify, type and handle Agent Factory webhooks.
 * Zero runtime dependencies; Web Crypto only.
 */
export {
  type EventTypeInfo,
  eventCatalog,
  eventDescriptions,
  eventNames,
  eventSamples,
  eventSchemas,
  isEventName,
} from './catalog/index.js';
export type * from './generated/events.js';
export {
  type SignatureHeaders,
  type SignPayloadInput,
  signBody,
  signPayload,
  signStandard,
  standardWebhooksKey,
} from './sign.js';
