/**
 * `/v1/api-keys`: an account's own keys (SPEC §5) — listed with their visible prefix, created
 * with a name, scopes and an optional expiry (the key answered once, stored hashed), revoked.
 * A revoked key is refused at once in this process (`ApiKeyCache.forget`) and within
 * `BUILT_IN.apiKeyCacheMs` in every other (`auth.ts`).
 */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BUILT_IN } from '../config.js';
import { LimitExceededError, NotFoundError, ValidationError } from '../errors.js';
import { isId } from '../ids.js';
import type { ApiKeyRow } from '../store/types.js';
import { createApiKeyWithin } from './accounts.js';
import type { AuditRecorder } from './audit.js';
import { type ApiKeyCache, accountOf } from './auth.js';
import type { AppDeps } from './deps.js';
import { type Cursors, parseTime } from './query.js';
import {
  ApiKeySchema,
  CreateApiKeyBody,
  errorResponses,
  IdParams,
  Page,
  PageQuery,
} from './schemas.js';
import { rfc3339 } from './serialize.js';

const tags = ['api keys'];

export function serializeApiKey(k: ApiKeyRow) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    created_at: rfc3339(k.createdAt),
    last_used_at: k.lastUsedAt === null ? null : rfc3339(k.lastUsedAt),
    expires_at: k.expiresAt === null ? null : rfc3339(k.expiresAt),
  };
}

export function apiKeyRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  cursors: Cursors,
  keys: ApiKeyCache,
  audit: AuditRecorder,
): void {
  const { store, clock } = deps;

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/api-keys',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: "List the account's API keys, newest first",
        description: 'Revoked keys are not listed; expired ones are, until revoked.',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(ApiKeySchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const page = await store.listApiKeys(accountId, {
        limit: request.query.limit ?? 50,
        cursor: cursors.check('key', accountId, request.query.cursor),
      });
      return {
        data: page.data.map(serializeApiKey),
        next_cursor: cursors.issue(accountId, page.nextCursor),
      };
    },
  );

  app.post<{ Body: Static<typeof CreateApiKeyBody> }>(
    '/v1/api-keys',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Create an API key',
        description:
          'Answers the key once (`api_key`); only its hash is stored. `scopes` defaults to `["full"]`; `expires_at`, when given, must be in the future. An account holds at most 100 unrevoked keys (422 `limit_exceeded`).',
        body: CreateApiKeyBody,
        response: {
          201: Type.Composite([ApiKeySchema, Type.Object({ api_key: Type.String() })]),
          ...errorResponses(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const body = request.body;
      const now = clock.now();
      const expiresAt = parseTime('/expires_at', body.expires_at);
      if (expiresAt !== undefined && expiresAt <= now)
        throw ValidationError.field('/expires_at', 'expires_at must be in the future');
      const max = BUILT_IN.apiKeysPerAccount;
      const created = await createApiKeyWithin(
        store,
        accountId,
        now,
        { name: body.name, scopes: body.scopes ?? ['full'], expiresAt: expiresAt ?? null },
        max,
      );
      if (!created)
        throw new LimitExceededError(
          `This account has ${max} API keys, the most it may have; revoke one first.`,
        );
      const { row, apiKey } = created;
      await audit.record(request, 'api_key.created', row.id, {
        name: row.name,
        prefix: row.prefix,
        scopes: row.scopes,
        expires_at: row.expiresAt === null ? null : rfc3339(row.expiresAt),
      });
      return reply.code(201).send({ ...serializeApiKey(row), api_key: apiKey });
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/api-keys/:id',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Revoke an API key',
        description:
          'Refused from now on by this process, and by every other within a second. A key may revoke itself.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const id = request.params.id;
      const revoked = isId('key', id)
        ? await store.revokeApiKey(accountId, id, clock.now())
        : undefined;
      if (!revoked) throw new NotFoundError('API key');
      keys.forget(revoked.id);
      await audit.record(request, 'api_key.revoked', revoked.id, {
        name: revoked.name,
        prefix: revoked.prefix,
      });
      return reply.code(204).send();
    },
  );
}
