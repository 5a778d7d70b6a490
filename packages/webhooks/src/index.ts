/**
 * @agentfactory/webhooks — verify, type and handle Agent Factory webhooks.
 * Zero runtime dependencies; Web Crypto only.
 */

export * from './adapters/express/index.js';
export * from './adapters/fastify/index.js';
export * from './adapters/node/index.js';
export * from './adapters/web/index.js';
export {
  type EventTypeInfo,
  eventCatalog,
  eventDescriptions,
  eventNames,
  eventSamples,
  eventSchemas,
  isEventName,
  isOperationalEvent,
  type OperationalEventName,
  operationalEventNames,
} from './catalog/index.js';
export {
  categoryOf,
  eventCategories,
  isValidPattern,
  matchesEvent,
  subscribableEventNames,
} from './catalog/subscriptions.js';
export {
  type DedupeClaim,
  type DedupeStore,
  DONE_TTL_MS,
  MemoryDedupeStore,
  type MemoryDedupeStoreOptions,
} from './dedupe/index.js';
export {
  type DiagnosedEnvelope,
  type DiagnoseInput,
  type Diagnosis,
  diagnoseRequest,
  type SchemeDiagnosis,
  type SignatureScheme,
} from './diagnose.js';
export {
  BODY_ALREADY_PARSED_MESSAGE,
  type VerificationErrorCode,
  verificationErrorCodes,
  verificationErrorStatus,
  WebhookVerificationError,
} from './errors.js';
export type * from './generated/events.js';
export type { HeadersGetter, HeadersInput, HeadersRecord } from './headers.js';
export {
  headerNames,
  type SignatureHeaders,
  type SignPayloadInput,
  signatureHeaders,
  signBody,
  signPayload,
  signStandard,
  standardWebhooksKey,
} from './sign.js';
export {
  generateTestHeaders,
  type TestRequest,
  type TestRequestOptions,
} from './testing.js';
export {
  type ConstructEventOptions,
  constructEvent,
  type RawBodyInput,
  type SecretsInput,
  type VerifyOptions,
  verifySignature,
  verifyStandardWebhook,
} from './verify.js';
export {
  type AnyEventHandler,
  type AnyWebhookEvent,
  type ErrorContext,
  type ErrorHandler,
  type EventHandler,
  type EventOf,
  isKnownEvent,
  type UnknownWebhookEvent,
  type WebhookRequest,
  type WebhookResponse,
  Webhooks,
  type WebhooksOptions,
} from './webhooks.js';
