/**
 * Authentication (SPEC §5): `Authorization: Bearer <key>`. The admin key (from the
 * configuration, compared in constant time) manages accounts and may post events for any
 * account; an account key (looked up by its SHA-256 hash) sees only its own account.
 */
import type { FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { hashApiKey, isAdminKey } from '../security/api-keys.js';
import type { AppDeps } from './deps.js';

export type Principal = { kind: 'admin' } | { kind: 'account'; accountId: string; keyId: string };

/** Who may call a route: nobody needs a key, any key, an account key only, or the admin key. */
export type Access = 'public' | 'any' | 'account' | 'admin';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Resolves the caller, or throws 401. */
export async function authenticate(
  request: FastifyRequest,
  deps: Pick<AppDeps, 'config' | 'store'>,
): Promise<Principal> {
  const key = bearer(request);
  if (key === undefined || key.length > 200) throw new UnauthorizedError();
  if (isAdminKey(key, deps.config.adminKey)) return { kind: 'admin' };
  const row = await deps.store.findApiKeyByHash(hashApiKey(key));
  if (!row) throw new UnauthorizedError('The API key is not valid.');
  return { kind: 'account', accountId: row.accountId, keyId: row.id };
}

/** The `onRequest` hook: enforces the route's `config.access`. */
export function accessHook(deps: Pick<AppDeps, 'config' | 'store'>) {
  return async (request: FastifyRequest): Promise<void> => {
    const access = request.routeOptions.config?.access ?? 'public';
    if (access === 'public') return;
    const principal = await authenticate(request, deps);
    if (access === 'admin' && principal.kind !== 'admin')
      throw new ForbiddenError('This route needs the admin key.');
    if (access === 'account' && principal.kind !== 'account')
      throw new ForbiddenError(
        'The admin key manages accounts; use an account API key for this route.',
      );
    request.principal = principal;
  };
}

/** The caller's account (routes with access `account`). */
export function accountOf(request: FastifyRequest): string {
  const p = request.principal;
  if (p?.kind !== 'account') throw new ForbiddenError('This route needs an account API key.');
  return p.accountId;
}
