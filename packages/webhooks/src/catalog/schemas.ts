/**
 * JSON Schemas (draft 2020-12) of every event's `data`, the single source of truth for the
 * catalog: the service validates with them, the dashboard shows them and `generated/events.ts`
 * is generated from them. Extra properties are allowed (no `additionalProperties`), so producers
 * can add fields without breaking receivers.
 */

const SCHEMA = 'https://json-schema.org/draft/2020-12/schema';

const text = { type: 'string', minLength: 1 } as const;
const freeText = { type: 'string' } as const;
const datetime = { type: 'string', format: 'date-time' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const num = { type: 'number', minimum: 0 } as const;

export const eventSchemas = {
  'agent.created': {
    $schema: SCHEMA,
    title: 'AgentCreatedData',
    type: 'object',
    required: ['agent_id', 'agent_name', 'user_id', 'created_at'],
    properties: {
      agent_id: text,
      agent_name: freeText,
      user_id: text,
      created_at: datetime,
    },
  },
  'agent.updated': {
    $schema: SCHEMA,
    title: 'AgentUpdatedData',
    type: 'object',
    required: ['agent_id', 'agent_name', 'user_id', 'updated_at'],
    properties: {
      agent_id: text,
      agent_name: freeText,
      user_id: text,
      updated_at: datetime,
      changes: {
        description: 'The fields that changed: field name → { from, to }.',
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['from', 'to'],
          properties: { from: {}, to: {} },
        },
      },
    },
  },
  'agent.deleted': {
    $schema: SCHEMA,
    title: 'AgentDeletedData',
    type: 'object',
    required: ['agent_id', 'user_id', 'deleted_at'],
    properties: {
      agent_id: text,
      user_id: text,
      deleted_at: datetime,
      agent_name: freeText,
    },
  },
  'agent.deployed': {
    $schema: SCHEMA,
    title: 'AgentDeployedData',
    type: 'object',
    required: ['agent_id', 'deployment_id', 'environment', 'user_id', 'deployed_at'],
    properties: {
      agent_id: text,
      deployment_id: text,
      environment: { ...freeText, description: 'Free text, e.g. `production`.' },
      user_id: text,
      deployed_at: datetime,
      version: freeText,
    },
  },
  'agent.undeployed': {
    $schema: SCHEMA,
    title: 'AgentUndeployedData',
    type: 'object',
    required: ['agent_id', 'deployment_id', 'environment', 'user_id', 'undeployed_at'],
    properties: {
      agent_id: text,
      deployment_id: text,
      environment: freeText,
      user_id: text,
      undeployed_at: datetime,
      reason: freeText,
    },
  },
  'conversation.started': {
    $schema: SCHEMA,
    title: 'ConversationStartedData',
    type: 'object',
    required: ['conversation_id', 'agent_id', 'user_id', 'started_at'],
    properties: {
      conversation_id: text,
      agent_id: text,
      user_id: text,
      started_at: datetime,
      channel: { ...freeText, description: 'Free text, e.g. `web`, `api`.' },
    },
  },
  'conversation.message': {
    $schema: SCHEMA,
    title: 'ConversationMessageData',
    type: 'object',
    required: ['conversation_id', 'agent_id', 'message_id', 'message', 'user_id', 'timestamp'],
    properties: {
      conversation_id: text,
      agent_id: text,
      message_id: text,
      message: freeText,
      user_id: text,
      timestamp: datetime,
      role: { type: 'string', enum: ['user', 'agent', 'system'] },
    },
  },
  'conversation.ended': {
    $schema: SCHEMA,
    title: 'ConversationEndedData',
    type: 'object',
    required: ['conversation_id', 'agent_id', 'user_id', 'ended_at'],
    properties: {
      conversation_id: text,
      agent_id: text,
      user_id: text,
      ended_at: datetime,
      message_count: int,
      duration_seconds: num,
      reason: freeText,
    },
  },
  'usage.threshold': {
    $schema: SCHEMA,
    title: 'UsageThresholdData',
    type: 'object',
    required: [
      'user_id',
      'metric',
      'threshold_percent',
      'current',
      'limit',
      'period_start',
      'period_end',
    ],
    properties: {
      user_id: text,
      metric: { ...freeText, description: 'Free text, e.g. `messages`, `tokens`.' },
      threshold_percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
      current: num,
      limit: num,
      period_start: datetime,
      period_end: datetime,
    },
  },
  'usage.limit': {
    $schema: SCHEMA,
    title: 'UsageLimitData',
    type: 'object',
    required: ['user_id', 'metric', 'current', 'limit', 'period_start', 'period_end'],
    properties: {
      user_id: text,
      metric: freeText,
      current: num,
      limit: num,
      period_start: datetime,
      period_end: datetime,
    },
  },
  'error.occurred': {
    $schema: SCHEMA,
    title: 'ErrorOccurredData',
    type: 'object',
    required: ['error_id', 'code', 'message', 'severity', 'occurred_at'],
    properties: {
      error_id: text,
      code: text,
      message: freeText,
      severity: { type: 'string', enum: ['info', 'warning', 'error', 'critical'] },
      occurred_at: datetime,
      agent_id: text,
      conversation_id: text,
    },
  },
  'error.resolved': {
    $schema: SCHEMA,
    title: 'ErrorResolvedData',
    type: 'object',
    required: ['error_id', 'resolved_at'],
    properties: {
      error_id: text,
      resolved_at: datetime,
      agent_id: text,
      resolution: freeText,
    },
  },
  'webhook.test': {
    $schema: SCHEMA,
    title: 'WebhookTestData',
    type: 'object',
    required: ['webhook_id', 'message'],
    properties: {
      webhook_id: text,
      message: freeText,
    },
  },
  'webhook.failing': {
    $schema: SCHEMA,
    title: 'WebhookFailingData',
    type: 'object',
    required: ['webhook_id', 'url', 'failing_since', 'failed_deliveries'],
    properties: {
      webhook_id: text,
      url: text,
      failing_since: {
        ...datetime,
        description: 'When the first failed attempt since the last success started.',
      },
      failed_deliveries: {
        ...int,
        description: 'Deliveries that used up their attempts since the last success.',
      },
      last_error: {
        ...freeText,
        description:
          "The last failed attempt's error code (`timeout`, `response_status`, …), when it had one.",
      },
    },
  },
  'webhook.disabled': {
    $schema: SCHEMA,
    title: 'WebhookDisabledData',
    type: 'object',
    required: ['webhook_id', 'url', 'reason', 'disabled_at'],
    properties: {
      webhook_id: text,
      url: text,
      reason: {
        type: 'string',
        enum: ['gone', 'failing', 'manual'],
        description:
          '`gone`: the endpoint answered 410; `failing`: every delivery failed for the auto-disable period; `manual`: a user disabled it.',
      },
      disabled_at: datetime,
    },
  },
  'webhook.recovered': {
    $schema: SCHEMA,
    title: 'WebhookRecoveredData',
    type: 'object',
    required: ['webhook_id', 'url', 'recovered_at', 'failing_since'],
    properties: {
      webhook_id: text,
      url: text,
      recovered_at: { ...datetime, description: 'When the successful attempt started.' },
      failing_since: datetime,
    },
  },
  'webhook.certificate_expiring': {
    $schema: SCHEMA,
    title: 'WebhookCertificateExpiringData',
    type: 'object',
    required: ['webhook_id', 'url', 'host', 'expires_at', 'days_left'],
    properties: {
      webhook_id: text,
      url: text,
      host: text,
      expires_at: { ...datetime, description: "The certificate's `notAfter`." },
      days_left: int,
    },
  },
} as const;
