import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LimitExceededError, NotFoundError } from '../errors.js';
import { isId, newId } from '../ids.js';
import { blobContext } from '../security/crypto.js';
import { generateSecret } from '../security/secrets.js';
import { NEW_HEALTH, type Store, type WebhookPatch, type WebhookRow } from '../store/types.js';
import type { AuditRecorder } from './audit.js';
import { accountOf } from './auth.js';
import type { AppDeps } from './deps.js';
import type { Cursors } from './query.js';
import {
  CreateWebhookBody,
  errorResponses,
  IdParams,
  Page,
  PageQuery,
  RotateBody,
  SecretSchema,
  UpdateWebhookBody,
  WebhookSchema,
} from './schemas.js';
import { rfc3339, serializeWebhook } from './serialize.js';
import {
  checkEvents,
  checkHeaders,
  checkMetadata,
  checkSecret,
  checkUrl,
} from './webhook-input.js';

const tags = ['webhooks'];
const DEFAULT_GRACE_SECONDS = 86_400;
const _MAX_STATS_WINDOW_MS = 90 * 86_400_000;
const _MAX_STATS_BUCKETS = 1000;

/** The account's webhook `id`, or a 404 (an id of another account is not found either). */
export async function loadWebhook(
  store: Store,
  accountId: string,
  id: string,
): Promise<WebhookRow> {
  const row = isId('wh', id) ? await store.getWebhook(accountId, id) : undefined;
  if (!row) throw new NotFoundError('webhook');
  return row;
}

/**
 * What the audit log says of a webhook's fields: every creatable field but the secret, and the
 * custom headers by name only (their values may be credentials).
 */
function auditedFields(w: Partial<WebhookRow>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (w.name !== undefined) out.name = w.name;
  if (w.url !== undefined) out.url = w.url;
  if (w.events !== undefined) out.events = w.events;
  if (w.active !== undefined) out.active = w.active;
  if (w.description !== undefined) out.description = w.description;
  if (w.headerNames !== undefined) out.header_names = w.headerNames;
  if (w.metadata !== undefined) out.metadata = w.metadata;
  return out;
}

/** `{field: {from, to}}` for each audited field the patch changed. */
function auditedChanges(before: WebhookRow, after: WebhookRow, patch: WebhookPatch) {
  const from = auditedFields(before);
  const to = auditedFields(after);
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const field of Object.keys(auditedFields(patch))) {
    if (field === 'active') continue;
    if (JSON.stringify(from[field]) !== JSON.stringify(to[field]))
      out[field] = { from: from[field] ?? null, to: to[field] ?? null };
  }
  return out;
}

export function webhookRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  cursors: Cursors,
  audit: AuditRecorder,
): void {
  const { store, cipher, clock, config, engine } = deps;

  const load = (accountId: string, id: string) => loadWebhook(store, accountId, id);

  function encryptHeaders(webhookId: string, headers: Record<string, string>) {
    const names = Object.keys(headers);
    return {
      headersEnc:
        names.length === 0
          ? null
          : cipher.encrypt(JSON.stringify(headers), blobContext.webhookHeaders(webhookId)),
      headerNames: names,
    };
  }

  app.post<{ Body: Static<typeof CreateWebhookBody> }>(
    '/v1/webhooks',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Create a webhook endpoint',
        description: 'Answers the webhook and its signing secret (generated unless given).',
        body: CreateWebhookBody,
        response: { 201: WebhookSchema, ...errorResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const body = request.body;
      const url = checkUrl(body.url, config);
      const events = checkEvents(body.events);
      const secret = body.secret === undefined ? generateSecret() : checkSecret(body.secret);
      const headers = checkHeaders(body.headers ?? {}, config.maxHeadersPerWebhook);
      const metadata = checkMetadata(body.metadata ?? {});
      const now = clock.now();
      const active = body.active ?? true;
      const id = newId('wh', now);
      const row: WebhookRow = {
        id,
        accountId,
        name: body.name,
        url,
        events,
        active,
        disabledReason: active ? null : 'manual',
        description: body.description ?? null,
        ...encryptHeaders(id, headers),
        metadata,
        secretEnc: cipher.encrypt(secret, blobContext.webhookSecret(id)),
        previousSecretEnc: null,
        previousSecretExpiresAt: null,
        createdAt: now,
        updatedAt: now,
        lastDeliveryAt: null,
        lastDeliveryStatus: null,
        health: { ...NEW_HEALTH },
      };
      const max = config.maxWebhooksPerAccount;
      if (!(await store.createWebhook(row, max)))
        throw new LimitExceededError(
          `This account has ${max} webhooks, the most it may have (AF_MAX_WEBHOOKS_PER_ACCOUNT); delete one first.`,
        );
      await audit.record(request, 'webhook.created', row.id, auditedFields(row));
      return reply.code(201).send(serializeWebhook(row, secret));
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/webhooks',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'List webhooks, newest first',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(WebhookSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = await store.listWebhooks(accountOf(request), {
        limit: request.query.limit ?? 50,
        cursor: cursors.check('wh', accountOf(request), request.query.cursor),
      });
      return {
        data: page.data.map((w) => serializeWebhook(w)),
        next_cursor: cursors.issue(accountOf(request), page.nextCursor),
      };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/webhooks/:id',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'Read a webhook',
        params: IdParams,
        response: { 200: WebhookSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => serializeWebhook(await load(accountOf(request), request.params.id)),
  );

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateWebhookBody> }>(
    '/v1/webhooks/:id',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Update a webhook',
        description:
          'Any creatable field but `secret` (rotate it with /secret/rotate). `active: false` disables the endpoint (`disabled_reason: "manual"`); `active: true` re-enables it. `headers` replaces the whole set.',
        params: IdParams,
        body: UpdateWebhookBody,
        response: { 200: WebhookSchema, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const before = await load(accountId, request.params.id);
      const { id } = before;
      const body = request.body;
      const patch: WebhookPatch = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.url !== undefined) patch.url = checkUrl(body.url, config);
      if (body.events !== undefined) patch.events = checkEvents(body.events);
      if (body.description !== undefined) patch.description = body.description;
      if (body.headers !== undefined)
        Object.assign(
          patch,
          encryptHeaders(id, checkHeaders(body.headers, config.maxHeadersPerWebhook)),
        );
      if (body.metadata !== undefined) patch.metadata = checkMetadata(body.metadata);
      if (body.active !== undefined) {
        patch.active = body.active;
        patch.disabledReason = body.active ? null : 'manual';
      }
      const row = await store.updateWebhook(accountId, request.params.id, patch, clock.now());
      if (!row) throw new NotFoundError('webhook');
      if (body.active === true || body.url !== undefined) engine.notify();
      const changes = auditedChanges(before, row, patch);
      if (Object.keys(changes).length > 0)
        await audit.record(request, 'webhook.updated', row.id, changes);
      if (body.active !== undefined && body.active !== before.active)
        await audit.record(request, body.active ? 'webhook.enabled' : 'webhook.disabled', row.id, {
          active: { from: before.active, to: body.active },
        });
      return serializeWebhook(row);
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/webhooks/:id',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Delete a webhook',
        description: 'Fails its pending deliveries; their log stays readable.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const id = request.params.id;
      // Read first, so that the log still says which webhook it was once its id resolves to nothing.
      const gone = await load(accountId, id);
      const deleted = await store.deleteWebhook(accountId, id, clock.now());
      if (!deleted) throw new NotFoundError('webhook');
      await audit.record(request, 'webhook.deleted', id, { name: gone.name, url: gone.url });
      return reply.code(204).send();
    },
  );

  function secretAnswer(row: WebhookRow) {
    const now = clock.now();
    const expires = row.previousSecretExpiresAt;
    return {
      secret: cipher.decrypt(row.secretEnc, blobContext.webhookSecret(row.id)),
      previous_secret_expires_at:
        row.previousSecretEnc !== null && expires !== null && expires > now
          ? rfc3339(expires)
          : null,
    };
  }

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/webhooks/:id/secret',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: "Reveal the webhook's signing secret",
        params: IdParams,
        response: { 200: SecretSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const answer = secretAnswer(await load(accountOf(request), request.params.id));
      await audit.record(request, 'webhook.secret_revealed', request.params.id);
      return answer;
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof RotateBody> }>(
    '/v1/webhooks/:id/secret/rotate',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Rotate the signing secret',
        description:
          'The previous secret keeps signing (both signatures are sent, newest first) for `grace_period_seconds` (default 86400, at most 604800; 0 drops it now).',
        params: IdParams,
        body: RotateBody,
        response: { 200: SecretSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const current = await load(accountId, request.params.id);
      const body = request.body;
      const secret = body.secret === undefined ? generateSecret() : checkSecret(body.secret);
      const grace = body.grace_period_seconds ?? DEFAULT_GRACE_SECONDS;
      const now = clock.now();
      const row = await store.rotateSecret(
        accountId,
        current.id,
        {
          secretEnc: cipher.encrypt(secret, blobContext.webhookSecret(current.id)),
          previousSecretEnc: grace > 0 ? current.secretEnc : null,
          previousSecretExpiresAt: grace > 0 ? now + grace * 1000 : null,
        },
        now,
      );
      if (!row) throw new NotFoundError('webhook');
      const previousExpires = grace > 0 ? rfc3339(now + grace * 1000) : null;
      await audit.record(request, 'webhook.secret_rotated', row.id, {
        secret: body.secret === undefined ? 'generated' : 'supplied',
        grace_period_seconds: grace,
        previous_secret_expires_at: previousExpires,
      });
      return { secret, previous_secret_expires_at: previousExpires };
    },
  );
}
