/**
 * The dashboard's only way to the service: the public HTTP API of SPEC §5, same origin,
 * `Authorization: Bearer <api key>`. Types mirror the documented resources.
 */

export interface Webhook {
  id: string;
  name: string;
  url: string;
  events: string[];
  active: boolean;
  disabled_reason: null | 'gone' | 'failing' | 'manual';
  description: string | null;
  headers: Record<string, string> | null;
  metadata: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  last_delivery_at: string | null;
  last_delivery_status: null | 'pending' | 'succeeded' | 'failed';
  health: WebhookHealth;
}

/** What the deliveries tell of the endpoint (SPEC §5); enabling the webhook clears it. */
export interface WebhookHealth {
  state: 'healthy' | 'failing' | 'disabled';
  /** Start of the first failed attempt since the last success. */
  failing_since: string | null;
  /** Deliveries that used up their attempts since the last success. */
  consecutive_failures: number;
  last_success_at: string | null;
  last_failure_at: string | null;
  /** HTTPS endpoints: `notAfter` of the certificate it last presented. */
  certificate_expires_at: string | null;
}

export interface CreatedWebhook extends Webhook {
  secret: string;
}

export interface WebhookInput {
  name: string;
  url: string;
  events: string[];
  active: boolean;
  description?: string | null;
  secret?: string;
}

export interface SecretInfo {
  secret: string;
  previous_secret_expires_at: string | null;
}

export interface TestResult {
  delivery_id: string;
  success: boolean;
  status_code: number | null;
  duration_ms: number | null;
  response_body: string | null;
  /** `base64`: the receiver's bytes were not text; `response_body` is their base64. */
  response_body_encoding: 'utf8' | 'base64' | null;
  error: string | null;
  /** What was sent: every X-AgentFactory-* header and both signatures; custom values masked. */
  request: { url: string; method: 'POST'; headers: Record<string, string>; body: string };
  /** What came back; null when no answer arrived. */
  response: {
    status: number;
    headers: Record<string, string>;
    body: string | null;
    body_encoding: 'utf8' | 'base64' | null;
  } | null;
  /** Why the test failed and what to do about it; null on success. */
  diagnosis: { code: string; message: string; fix: string } | null;
}

/** A test: a catalog event (its sample, or `data` instead), or without `event` a `webhook.test`. */
export interface TestInput {
  event?: string;
  data?: unknown;
}

/**
 * A `listen` session: the CLI forwarding the account's events to a local URL. Not a webhook: its
 * deliveries carry its `lsn_…` id as `webhook_id`, and the webhooks routes answer 404 for it.
 */
export interface ListenSession {
  id: string;
  name: string;
  forward_to: string;
  events: string[];
  connected: boolean;
  /** When the current, or the last, connection opened. */
  connected_at: string | null;
  last_seen_at: string | null;
  created_at: string;
  last_delivery_at: string | null;
  last_delivery_status: null | DeliveryStatus;
}

export interface StatsBucket {
  start: string;
  succeeded: number;
  failed: number;
  pending: number;
}

export interface Stats {
  window: string;
  success_rate: number | null;
  attempts: number;
  p50_ms: number | null;
  p95_ms: number | null;
  buckets: StatsBucket[];
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface Attempt {
  id: string;
  number: number;
  started_at: string;
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  request_headers: Record<string, string> | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
  response_body_encoding: 'utf8' | 'base64' | null;
  trigger: 'scheduled' | 'manual' | 'recover' | 'test';
}

export interface Delivery {
  id: string;
  event_id: string;
  event: string;
  webhook_id: string;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  attempts?: Attempt[];
}

export interface EventRecord {
  id: string;
  event: string;
  timestamp: string;
  data: unknown;
  deliveries: number;
}

export type ApiKeyScope = 'full' | 'read' | 'events:write';

/** An API key of the account: never the key itself after creation, but its first characters. */
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export interface CreatedApiKey extends ApiKey {
  /** Shown once: only its hash is stored. */
  api_key: string;
}

/** One configuration change of the account; never holds a secret value. */
export interface AuditEntry {
  id: string;
  action: string;
  /** The key that made the change; null for the admin key. */
  actor_key_id: string | null;
  target_id: string | null;
  changes: Record<string, unknown>;
  created_at: string;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An answer of the API that is not a success, or a network failure (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Query = Record<string, string | number | null | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function request<T>(
  client: Client,
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${client.key}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(
      0,
      'network_error',
      'The service could not be reached. Check that it is running, then try again.',
    );
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: ErrorDetail[] } })
      ?.error;
    if (response.status === 401) client.onUnauthorized?.();
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `The service answered ${response.status} ${response.statusText}.`,
      Array.isArray(error?.details) ? error.details : [],
    );
  }
  return json as T;
}

interface Client {
  key: string;
  /** Called when the API answers 401: the key is no longer valid. */
  onUnauthorized?: (() => void) | undefined;
}

/** A client bound to one API key. */
export function createApi(key: string, onUnauthorized?: () => void) {
  const client: Client = { key, onUnauthorized };
  const enc = encodeURIComponent;
  return {
    /** The first characters of the signed-in key, as `ApiKey.prefix` shows them. */
    keyPrefix: key.slice(0, 12),
    listApiKeys: (query: { cursor?: string | null } = {}) =>
      request<Page<ApiKey>>(client, 'GET', '/v1/api-keys', { query }),
    createApiKey: (body: { name: string; scopes: ApiKeyScope[]; expires_at?: string }) =>
      request<CreatedApiKey>(client, 'POST', '/v1/api-keys', { body }),
    revokeApiKey: (id: string) => request<void>(client, 'DELETE', `/v1/api-keys/${enc(id)}`),
    listAudit: (query: {
      action?: string;
      target_id?: string;
      since?: string;
      until?: string;
      cursor?: string | null;
    }) => request<Page<AuditEntry>>(client, 'GET', '/v1/audit-log', { query }),
    listWebhooks: (query: { limit?: number; cursor?: string | null } = {}) =>
      request<Page<Webhook>>(client, 'GET', '/v1/webhooks', { query }),
    getWebhook: (id: string) => request<Webhook>(client, 'GET', `/v1/webhooks/${enc(id)}`),
    createWebhook: (input: WebhookInput) =>
      request<CreatedWebhook>(client, 'POST', '/v1/webhooks', { body: input }),
    updateWebhook: (id: string, patch: Partial<Omit<WebhookInput, 'secret'>>) =>
      request<Webhook>(client, 'PATCH', `/v1/webhooks/${enc(id)}`, { body: patch }),
    deleteWebhook: (id: string) => request<void>(client, 'DELETE', `/v1/webhooks/${enc(id)}`),
    getSecret: (id: string) => request<SecretInfo>(client, 'GET', `/v1/webhooks/${enc(id)}/secret`),
    rotateSecret: (id: string, body: { grace_period_seconds: number; secret?: string }) =>
      request<SecretInfo>(client, 'POST', `/v1/webhooks/${enc(id)}/secret/rotate`, { body }),
    testWebhook: (id: string, body: TestInput = {}) =>
      request<TestResult>(client, 'POST', `/v1/webhooks/${enc(id)}/test`, { body }),
    recover: (id: string, body: { since: string; until?: string }) =>
      request<{ deliveries: number }>(client, 'POST', `/v1/webhooks/${enc(id)}/recover`, { body }),
    stats: (id: string) =>
      request<Stats>(client, 'GET', `/v1/webhooks/${enc(id)}/stats`, {
        query: { window: '24h', bucket: '1h' },
      }),
    listDeliveries: (query: {
      webhook_id?: string;
      status?: string;
      event?: string;
      cursor?: string | null;
      limit?: number;
    }) => request<Page<Delivery>>(client, 'GET', '/v1/deliveries', { query }),
    getDelivery: (id: string) => request<Delivery>(client, 'GET', `/v1/deliveries/${enc(id)}`),
    retryDelivery: (id: string) =>
      request<Delivery>(client, 'POST', `/v1/deliveries/${enc(id)}/retry`),
    getEvent: (id: string) => request<EventRecord>(client, 'GET', `/v1/events/${enc(id)}`),
    listListenSessions: () =>
      request<{ data: ListenSession[] }>(client, 'GET', '/v1/listen/sessions'),
    deleteListenSession: (id: string) =>
      request<void>(client, 'DELETE', `/v1/listen/sessions/${enc(id)}`),
    getListenSecret: () => request<{ secret: string }>(client, 'GET', '/v1/listen/secret'),
    rotateListenSecret: () =>
      request<{ secret: string }>(client, 'POST', '/v1/listen/secret/rotate', { body: {} }),
  };
}

export type Api = ReturnType<typeof createApi>;
