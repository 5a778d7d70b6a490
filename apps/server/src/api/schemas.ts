/**
 * TypeBox schemas of the API's requests and answers (SPEC §5): Fastify validates requests with
 * them and @fastify/swagger turns them into `/openapi.json`.
 */
import { type SchemaOptions, type TSchema, Type } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(schema: T, options?: SchemaOptions) =>
  Type.Union([schema, Type.Null()], options);
const Time = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(
        Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), {
          maxItems: 20,
          description: 'The first 20 problems at most.',
        }),
      ),
      details_total: Type.Optional(
        Type.Integer({ description: 'How many problems there were (present with `details`).' }),
      ),
    }),
  },
  {
    $id: 'Error',
    description:
      'SPEC §5 error: a stable code, a message, and details (the first 20, with their total).',
  },
);

/** The errors a route may answer, by status, all with the one error body. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) out[s] = Type.Ref('Error');
  return out;
}

/**
 * Input limits (docs/api.md "Limits"). Strings and collections of every request have
 * a bound here; the account quotas (webhooks per account, custom headers per webhook) are
 * settings (`AF_MAX_WEBHOOKS_PER_ACCOUNT`, `AF_MAX_HEADERS_PER_WEBHOOK`), checked in the routes.
 */
export const LIMITS = {
  name: 200,
  description: 2000,
  /** As browsers and Stripe/Svix: longer URLs are not portable. */
  url: 2048,
  eventName: 100,
  eventsPerWebhook: 100,
  headerName: 100,
  headerValue: 4096,
  metadataKeys: 50,
  metadataKey: 100,
  metadataValue: 1000,
  secret: 256,
  id: 100,
  idempotencyKey: 255,
  batchEvents: 100,
  duration: 32,
} as const;

/**
 * Text the service stores or queries as it is (names, descriptions, metadata, filters): no NUL,
 * which PostgreSQL's `text` and `jsonb` cannot hold (SQLite can: the stores would differ).
 */
export const NO_NUL = '^[^\\u0000]*$';
/** Event names and ids: visible ASCII only. */
const VISIBLE = '^[\\x21-\\x7e]*$';

const Id = (description?: string) =>
  Type.String({ maxLength: LIMITS.id, ...(description ? { description } : {}) });
/** An id the store is queried with as it is (a list filter). */
const IdFilter = Type.String({ maxLength: LIMITS.id, pattern: VISIBLE });

// Path ids are matched against the id shape before any lookup: anything else is a 404.
export const IdParams = Type.Object({ id: Id() });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 250, default: 50 })),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: LIMITS.id,
      description: '`next_cursor` of the previous page; any other value is a 400.',
    }),
  ),
};

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ data: Type.Array(item), next_cursor: Nullable(Type.String()) });

export const StringMap = Type.Record(Type.String(), Type.String());

export const EventList = Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.eventName }), {
  minItems: 1,
  maxItems: LIMITS.eventsPerWebhook,
  uniqueItems: true,
  description: 'Event names, `agent.*`-style category wildcards, or `*` for every event.',
});

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    url: Type.String(),
    events: Type.Array(Type.String()),
    active: Type.Boolean(),
    disabled_reason: Nullable(
      Type.Union([Type.Literal('gone'), Type.Literal('failing'), Type.Literal('manual')], {
        description:
          '`gone`: the endpoint answered 410; `failing`: every delivery failed for `AF_AUTO_DISABLE_AFTER`; `manual`: a user disabled it',
      }),
    ),
    description: Nullable(Type.String()),
    headers: Type.Record(Type.String(), Type.String(), {
      description: 'Custom headers; values masked as ••••',
    }),
    metadata: StringMap,
    created_at: Time,
    updated_at: Time,
    last_delivery_at: Nullable(Time),
    last_delivery_status: Nullable(Type.String()),
    health: Type.Object(
      {
        state: Type.Union(
          [Type.Literal('healthy'), Type.Literal('failing'), Type.Literal('disabled')],
          {
            description:
              '`disabled` while inactive; `failing` once a delivery used up its attempts since the last success; else `healthy`',
          },
        ),
        failing_since: Nullable(Time, {
          description: 'Start of the first failed attempt since the last success',
        }),
        consecutive_failures: Type.Integer({
          minimum: 0,
          description: 'Deliveries that used up their attempts since the last success',
        }),
        last_success_at: Nullable(Time),
        last_failure_at: Nullable(Time),
        certificate_expires_at: Nullable(Time, {
          description: 'HTTPS endpoints: the `notAfter` of the certificate it last presented',
        }),
      },
      {
        description: 'What the deliveries tell of the endpoint (health is cleared by enabling it)',
      },
    ),
    secret: Type.Optional(Type.String()),
  },
  {},
);

const SecretField = Type.String({
  maxLength: LIMITS.secret,
  description:
    'Your own secret: 16–256 printable ASCII characters without whitespace; a whsec_ secret must be base64 of 24–64 bytes. Generated when absent.',
});

const webhookFields = {
  name: Type.String({ minLength: 1, maxLength: LIMITS.name, pattern: NO_NUL }),
  url: Type.String({
    minLength: 1,
    maxLength: LIMITS.url,
    description: 'http(s), without credentials (`user:pass@` is refused).',
  }),
  events: EventList,
  active: Type.Boolean(),
  description: Nullable(Type.String({ maxLength: LIMITS.description, pattern: NO_NUL })),
  // Names (RFC 9110 tokens, at most 100 characters) and values (RFC 9110 field values) are
  // checked in webhook-input.ts, which names the header in the error's path.
  headers: Type.Record(Type.String(), Type.String({ maxLength: LIMITS.headerValue }), {
    description:
      'Custom headers sent with every delivery: at most `AF_MAX_HEADERS_PER_WEBHOOK` (default 20); names are RFC 9110 tokens of at most 100 characters, values visible ASCII, space and tab, at most 4096 characters, without leading or trailing whitespace.',
  }),
  metadata: Type.Record(
    Type.String(),
    Type.String({ maxLength: LIMITS.metadataValue, pattern: NO_NUL }),
    {
      maxProperties: LIMITS.metadataKeys,
      propertyNames: { pattern: NO_NUL },
      description:
        'Your own string key/values: at most 50 keys of 1–100 characters, values at most 1000 characters.',
    },
  ),
};

export const CreateWebhookBody = Type.Object(
  {
    name: webhookFields.name,
    url: webhookFields.url,
    events: webhookFields.events,
    secret: Type.Optional(SecretField),
    active: Type.Optional(webhookFields.active),
    description: Type.Optional(webhookFields.description),
    headers: Type.Optional(webhookFields.headers),
    metadata: Type.Optional(webhookFields.metadata),
  },
  { additionalProperties: false },
);

export const UpdateWebhookBody = Type.Object(
  {
    name: Type.Optional(webhookFields.name),
    url: Type.Optional(webhookFields.url),
    events: Type.Optional(webhookFields.events),
    active: Type.Optional(webhookFields.active),
    description: Type.Optional(webhookFields.description),
    headers: Type.Optional(webhookFields.headers),
    metadata: Type.Optional(webhookFields.metadata),
  },
  { additionalProperties: false },
);

export const SecretSchema = Type.Object({
  secret: Type.String(),
  previous_secret_expires_at: Nullable(Time),
});

export const RotateBody = Type.Object(
  {
    secret: Type.Optional(SecretField),
    grace_period_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 604800 })),
  },
  { additionalProperties: false },
);

export const TestBody = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.eventName })),
    data: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'The event data to send instead of the sample of `event` (which must be named, and not ' +
            "`webhook.test`): validated against the event type's schema and size cap as `POST /v1/events` does.",
        },
      ),
    ),
  },
  { additionalProperties: false },
);

const BodyEncodingSchema = Type.Union([Type.Literal('utf8'), Type.Literal('base64')], {
  description:
    '`utf8`: the body is the text received; `base64`: the bytes received were not ' +
    'UTF-8 text (NUL, invalid UTF-8, compressed), and the body is their base64',
});

export const TestResult = Type.Object({
  delivery_id: Type.String(),
  success: Type.Boolean(),
  status_code: Nullable(Type.Integer()),
  duration_ms: Type.Integer(),
  response_body: Nullable(Type.String()),
  response_body_encoding: Nullable(BodyEncodingSchema),
  error: Nullable(Type.String()),
  request: Type.Object(
    {
      url: Type.String(),
      method: Type.Literal('POST'),
      headers: Type.Record(Type.String(), Type.String(), {
        description:
          'As sent, in order: every X-AgentFactory-* header and both signature headers in full; ' +
          'custom header values masked (`••••`). Empty when nothing could be sent.',
      }),
      body: Type.String({ description: 'The exact body sent.' }),
    },
    { description: 'What was sent.' },
  ),
  response: Nullable(
    Type.Object(
      {
        status: Type.Integer(),
        headers: Type.Record(Type.String(), Type.String()),
        body: Nullable(Type.String({ description: 'The first 4096 bytes at most.' })),
        body_encoding: Nullable(BodyEncodingSchema),
      },
      { description: 'What came back; null when no answer arrived.' },
    ),
  ),
  diagnosis: Nullable(
    Type.Object(
      {
        code: Type.String({
          description:
            'dns_error, connection_refused, tls_certificate_expired, tls_untrusted_certificate, ' +
            'tls_hostname_mismatch, tls_protocol_version, tls_error, timeout, redirect, ' +
            'response_status, blocked_address, endpoint_disabled, configuration_error, connection_error',
        }),
        message: Type.String(),
        fix: Type.String(),
      },
      { description: 'Why the attempt failed and how to fix it; null on success.' },
    ),
  ),
});

export const RecoverBody = Type.Object(
  { since: Time, until: Type.Optional(Time) },
  { additionalProperties: false },
);

export const StatsQuery = Type.Object({
  window: Type.Optional(
    Type.String({ default: '24h', maxLength: LIMITS.duration, description: 'e.g. 1h, 24h, 7d' }),
  ),
  bucket: Type.Optional(
    Type.String({ default: '1h', maxLength: LIMITS.duration, description: 'e.g. 5m, 1h, 1d' }),
  ),
});

export const StatsSchema = Type.Object({
  window: Type.String(),
  success_rate: Nullable(Type.Number()),
  attempts: Type.Integer(),
  p50_ms: Nullable(Type.Number()),
  p95_ms: Nullable(Type.Number()),
  buckets: Type.Array(
    Type.Object({
      start: Time,
      succeeded: Type.Integer(),
      failed: Type.Integer(),
      pending: Type.Integer(),
    }),
  ),
});

const AnyObject = Type.Object({}, { additionalProperties: true });

export const EventSchema = Type.Object(
  {
    id: Type.String(),
    event: Type.String(),
    timestamp: Time,
    data: AnyObject,
    deliveries: Type.Integer(),
    delivery_ids: Type.Optional(Type.Array(Type.String())),
  },
  {},
);

export const PostEventBody = Type.Object(
  {
    event: Type.String({ minLength: 1, maxLength: LIMITS.eventName }),
    data: AnyObject,
    account_id: Type.Optional(Id('Required with the admin key.')),
  },
  { additionalProperties: false },
);

export const BatchBody = Type.Object(
  {
    events: Type.Array(
      Type.Object(
        {
          event: Type.String({ minLength: 1, maxLength: LIMITS.eventName }),
          data: AnyObject,
          idempotency_key: Type.Optional(
            Type.String({ minLength: 1, maxLength: LIMITS.idempotencyKey }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: LIMITS.batchEvents },
    ),
    account_id: Type.Optional(Id('Required with the admin key.')),
  },
  { additionalProperties: false },
);

export const EventListQuery = Type.Object({
  ...PageQuery,
  event: Type.Optional(Type.String({ maxLength: LIMITS.eventName, pattern: VISIBLE })),
  since: Type.Optional(Time),
  until: Type.Optional(Time),
});

export const AttemptSchema = Type.Object({
  id: Type.String(),
  number: Type.Integer(),
  started_at: Time,
  duration_ms: Type.Integer(),
  status_code: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  request_headers: StringMap,
  response_headers: StringMap,
  response_body: Nullable(Type.String()),
  response_body_encoding: Nullable(
    Type.Union([Type.Literal('utf8'), Type.Literal('base64')], {
      description:
        '`utf8`: response_body is the text received; `base64`: the bytes received were not ' +
        'UTF-8 text (NUL, invalid UTF-8, compressed), and response_body is their base64',
    }),
  ),
  trigger: Type.String(),
});

export const DeliverySchema = Type.Object(
  {
    id: Type.String(),
    event_id: Type.String(),
    event: Type.String(),
    webhook_id: Type.String(),
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('succeeded'),
      Type.Literal('failed'),
    ]),
    attempt_count: Type.Integer(),
    next_attempt_at: Nullable(Time),
    last_status_code: Nullable(Type.Integer()),
    last_error: Nullable(Type.String()),
    created_at: Time,
    updated_at: Time,
    attempts: Type.Optional(Type.Array(AttemptSchema)),
  },
  {},
);

export const DeliveryListQuery = Type.Object({
  ...PageQuery,
  webhook_id: Type.Optional(IdFilter),
  event_id: Type.Optional(IdFilter),
  event: Type.Optional(Type.String({ maxLength: LIMITS.eventName, pattern: VISIBLE })),
  status: Type.Optional(
    Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
  ),
  since: Type.Optional(Time),
  until: Type.Optional(Time),
});

export const CreateAccountBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: LIMITS.name, pattern: NO_NUL }) },
  { additionalProperties: false },
);

/** An API key as the account sees it (never the key itself, but its first characters). */
export const ApiKeySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the key, to recognise it.' }),
  scopes: Type.Array(Type.String()),
  created_at: Time,
  last_used_at: Nullable(Time),
  expires_at: Nullable(Time),
});

export const ScopeSchema = Type.Union(
  [Type.Literal('full'), Type.Literal('read'), Type.Literal('events:write')],
  {
    description:
      '`full`: everything of the account; `read`: every GET but the secret reveals; `events:write`: posting events only.',
  },
);

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: LIMITS.name, pattern: NO_NUL }),
    scopes: Type.Optional(
      Type.Array(ScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true, default: ['full'] }),
    ),
    expires_at: Type.Optional(Time),
  },
  { additionalProperties: false },
);

export const AuditEntrySchema = Type.Object({
  id: Type.String(),
  action: Type.String(),
  actor_key_id: Nullable(Type.String({ description: 'null: the admin key' })),
  target_id: Nullable(Type.String()),
  changes: Type.Record(Type.String(), Type.Unknown()),
  created_at: Time,
});

export const AuditListQuery = Type.Object({
  ...PageQuery,
  action: Type.Optional(Type.String({ maxLength: LIMITS.eventName, pattern: VISIBLE })),
  target_id: Type.Optional(IdFilter),
  since: Type.Optional(Time),
  until: Type.Optional(Time),
});
