/**
 * DO NOT EDIT: generated from src/catalog/schemas.ts by scripts/generate-types.ts.
 * Run `npm run generate -w packages/webhooks` after changing a schema.
 */
/* eslint-disable */

/** `data` of `agent.created`. */
export interface AgentCreatedData {
  agent_id: string;
  agent_name: string;
  user_id: string;
  created_at: string;
}

/** `data` of `agent.updated`. */
export interface AgentUpdatedData {
  agent_id: string;
  agent_name: string;
  user_id: string;
  updated_at: string;
  /**
   * The fields that changed: field name → { from, to }.
   */
  changes?: {
    [k: string]:
      | {
          from: unknown;
          to: unknown;
        }
      | undefined;
  };
}

/** `data` of `agent.deleted`. */
export interface AgentDeletedData {
  agent_id: string;
  user_id: string;
  deleted_at: string;
  agent_name?: string;
}

/** `data` of `agent.deployed`. */
export interface AgentDeployedData {
  agent_id: string;
  deployment_id: string;
  /**
   * Free text, e.g. `production`.
   */
  environment: string;
  user_id: string;
  deployed_at: string;
  version?: string;
}

/** `data` of `agent.undeployed`. */
export interface AgentUndeployedData {
  agent_id: string;
  deployment_id: string;
  environment: string;
  user_id: string;
  undeployed_at: string;
  reason?: string;
}

/** `data` of `conversation.started`. */
export interface ConversationStartedData {
  conversation_id: string;
  agent_id: string;
  user_id: string;
  started_at: string;
  /**
   * Free text, e.g. `web`, `api`.
   */
  channel?: string;
}

/** `data` of `conversation.message`. */
export interface ConversationMessageData {
  conversation_id: string;
  agent_id: string;
  message_id: string;
  message: string;
  user_id: string;
  timestamp: string;
  role?: 'user' | 'agent' | 'system';
}

/** `data` of `conversation.ended`. */
export interface ConversationEndedData {
  conversation_id: string;
  agent_id: string;
  user_id: string;
  ended_at: string;
  message_count?: number;
  duration_seconds?: number;
  reason?: string;
}

/** `data` of `usage.threshold`. */
export interface UsageThresholdData {
  user_id: string;
  /**
   * Free text, e.g. `messages`, `tokens`.
   */
  metric: string;
  threshold_percent: number;
  current: number;
  limit: number;
  period_start: string;
  period_end: string;
}

/** `data` of `usage.limit`. */
export interface UsageLimitData {
  user_id: string;
  metric: string;
  current: number;
  limit: number;
  period_start: string;
  period_end: string;
}

/** `data` of `error.occurred`. */
export interface ErrorOccurredData {
  error_id: string;
  code: string;
  message: string;
  severity: 'info' | 'warning' | 'error' | 'critical';
  occurred_at: string;
  agent_id?: string;
  conversation_id?: string;
}

/** `data` of `error.resolved`. */
export interface ErrorResolvedData {
  error_id: string;
  resolved_at: string;
  agent_id?: string;
  resolution?: string;
}

/** `data` of `webhook.test`. */
export interface WebhookTestData {
  webhook_id: string;
  message: string;
}

/** `data` of `webhook.failing`. */
export interface WebhookFailingData {
  webhook_id: string;
  url: string;
  /**
   * When the first failed attempt since the last success started.
   */
  failing_since: string;
  /**
   * Deliveries that used up their attempts since the last success.
   */
  failed_deliveries: number;
  /**
   * The last failed attempt's error code (`timeout`, `response_status`, …), when it had one.
   */
  last_error?: string;
}

/** `data` of `webhook.disabled`. */
export interface WebhookDisabledData {
  webhook_id: string;
  url: string;
  /**
   * `gone`: the endpoint answered 410; `failing`: every delivery failed for the auto-disable period; `manual`: a user disabled it.
   */
  reason: 'gone' | 'failing' | 'manual';
  disabled_at: string;
}

/** `data` of `webhook.recovered`. */
export interface WebhookRecoveredData {
  webhook_id: string;
  url: string;
  /**
   * When the successful attempt started.
   */
  recovered_at: string;
  failing_since: string;
}

/** `data` of `webhook.certificate_expiring`. */
export interface WebhookCertificateExpiringData {
  webhook_id: string;
  url: string;
  host: string;
  /**
   * The certificate's `notAfter`.
   */
  expires_at: string;
  days_left: number;
}

/** Every event type name of the catalog. */
export type EventName =
  | 'agent.created'
  | 'agent.updated'
  | 'agent.deleted'
  | 'agent.deployed'
  | 'agent.undeployed'
  | 'conversation.started'
  | 'conversation.message'
  | 'conversation.ended'
  | 'usage.threshold'
  | 'usage.limit'
  | 'error.occurred'
  | 'error.resolved'
  | 'webhook.test'
  | 'webhook.failing'
  | 'webhook.disabled'
  | 'webhook.recovered'
  | 'webhook.certificate_expiring';

/** The `data` type of each event, keyed by event name. */
export interface EventMap {
  'agent.created': AgentCreatedData;
  'agent.updated': AgentUpdatedData;
  'agent.deleted': AgentDeletedData;
  'agent.deployed': AgentDeployedData;
  'agent.undeployed': AgentUndeployedData;
  'conversation.started': ConversationStartedData;
  'conversation.message': ConversationMessageData;
  'conversation.ended': ConversationEndedData;
  'usage.threshold': UsageThresholdData;
  'usage.limit': UsageLimitData;
  'error.occurred': ErrorOccurredData;
  'error.resolved': ErrorResolvedData;
  'webhook.test': WebhookTestData;
  'webhook.failing': WebhookFailingData;
  'webhook.disabled': WebhookDisabledData;
  'webhook.recovered': WebhookRecoveredData;
  'webhook.certificate_expiring': WebhookCertificateExpiringData;
}

/** The envelope of one event: `{ id, event, timestamp, data }`. */
export interface WebhookEvent<N extends EventName = EventName> {
  /** The event id, `evt_…`; the same on every retry: dedupe on it. */
  id: string;
  /** The event type. */
  event: N;
  /** RFC 3339 UTC time when the event was accepted. */
  timestamp: string;
  data: EventMap[N];
}

/** Any event of the catalog, discriminated on `event`. */
export type AgentFactoryEvent = { [N in EventName]: WebhookEvent<N> }[EventName];
