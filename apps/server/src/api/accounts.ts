/** `/v1/accounts`: tenants and their API keys, with the admin key only (SPEC §5). */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../errors.js';
import { isId, newId } from '../ids.js';
import { generateApiKey, hashApiKey, keyPrefix } from '../security/api-keys.js';
import type { ApiKeyRow, Store } from '../store/types.js';
import type { AuditRecorder } from './audit.js';
import type { AppDeps } from './deps.js';
import { CreateAccountBody, errorResponses, IdParams } from './schemas.js';

const tags = ['accounts'];

type KeyOptions = Pick<ApiKeyRow, 'name' | 'scopes' | 'expiresAt'>;
type CreatedKey = { id: string; apiKey: string; row: ApiKeyRow };

const FIRST_KEY: KeyOptions = { name: 'default', scopes: ['full'], expiresAt: null };

/** A new key's row and the key itself, answered once; only its hash is stored. */
function newApiKey(accountId: string, now: number, options: KeyOptions): CreatedKey {
  const apiKey = generateApiKey();
  const row: ApiKeyRow = {
    id: newId('key', now),
    accountId,
    keyHash: hashApiKey(apiKey),
    prefix: keyPrefix(apiKey),
    name: options.name,
    scopes: options.scopes,
    createdAt: now,
    expiresAt: options.expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  };
  return { id: row.id, apiKey, row };
}

/** Creates an API key (scope full) for the account, with no quota: the admin key's routes. */
export async function createApiKey(
  store: Store,
  accountId: string,
  now: number,
  options: KeyOptions = FIRST_KEY,
): Promise<CreatedKey> {
  const key = newApiKey(accountId, now, options);
  await store.createApiKey(key.row);
  return key;
}

/** Creates an API key unless the account holds `max` already (then undefined). */
export async function createApiKeyWithin(
  store: Store,
  accountId: string,
  now: number,
  options: KeyOptions,
  max: number,
): Promise<CreatedKey | undefined> {
  const key = newApiKey(accountId, now, options);
  return (await store.createApiKey(key.row, max)) ? key : undefined;
}

/** Creates an account and its first API key. */
export async function createAccount(
  store: Store,
  name: string,
  now: number,
): Promise<{ id: string; name: string; apiKey: string; keyId: string }> {
  const id = newId('acct', now);
  await store.createAccount({ id, name, createdAt: now });
  const key = await createApiKey(store, id, now);
  return { id, name, apiKey: key.apiKey, keyId: key.id };
}

export function accountRoutes(app: FastifyInstance, deps: AppDeps, audit: AuditRecorder): void {
  const { store, clock } = deps;
  const config = { access: 'admin' as const };

  app.post<{ Body: Static<typeof CreateAccountBody> }>(
    '/v1/accounts',
    {
      config,
      schema: {
        tags,
        summary: 'Create an account (admin key)',
        description: 'Answers the account and its first API key, shown once.',
        body: CreateAccountBody,
        response: {
          201: Type.Object({ id: Type.String(), name: Type.String(), api_key: Type.String() }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const account = await createAccount(store, request.body.name, clock.now());
      return reply.code(201).send({ id: account.id, name: account.name, api_key: account.apiKey });
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/accounts/:id/api-keys',
    {
      config,
      schema: {
        tags,
        summary: 'Create another API key for an account (admin key)',
        description: 'The key is shown once and stored hashed.',
        params: IdParams,
        response: {
          201: Type.Object({ id: Type.String(), api_key: Type.String() }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const account = isId('acct', id) ? await store.getAccount(id) : undefined;
      if (!account) throw new NotFoundError('account');
      const key = await createApiKey(store, account.id, clock.now());
      await audit.recordFor(account.id, 'api_key.created', key.id, {
        name: key.row.name,
        prefix: key.row.prefix,
        scopes: key.row.scopes,
        expires_at: null,
      });
      return reply.code(201).send({ id: key.id, api_key: key.apiKey });
    },
  );
}
