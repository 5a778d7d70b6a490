/**
 * Authentication (SPEC §5): `Authorization: Bearer <key>`. The admin key (from the
 * configuration, compared in constant time) manages accounts and may post events for any
 * account; an account key (looked up by its SHA-256 hash) sees only its own account.
 */

import type { FastifyRequest } from 'fastify';
import { BUILT_IN } from '../config.js';
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

export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** How long a valid account key's lookup is reused, and how many are kept (`config.ts`). */
const KEY_CACHE_MS = BUILT_IN.apiKeyCacheMs;
const KEY_CACHE_MAX = BUILT_IN.apiKeyCacheMax;

/**
 * Account keys found valid recently, by hash: a client sending many requests costs one lookup
 * in the store per key every `KEY_CACHE_MS`, not one per request. Only valid keys are kept (an
 * unknown key is looked up every time), the map is bounded (the oldest entry goes first), and
 * keys cannot be revoked yet; when they can, a revoked key stays usable for at most
 * `KEY_CACHE_MS` on a process that had just seen it.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get(keyHash: string): Principal | undefined {
    const hit = this.entries.get(keyHash);
    if (!hit) return undefined;
    if (hit.until > this.now()) return hit.principal;
    this.entries.delete(keyHash);
    return undefined;
  }

  set(keyHash: string, principal: Principal): void {
    this.entries.delete(keyHash);
    if (this.entries.size >= KEY_CACHE_MAX) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(keyHash, { principal, until: this.now() + KEY_CACHE_MS });
  }
}

/** Resolves the caller, or throws 401. */
export async function authenticate(
  request: FastifyRequest,
  deps: Pick<AppDeps, 'config' | 'store'>,
  cache?: ApiKeyCache,
): Promise<Principal> {
  const key = bearer(request);
  if (key === undefined || key.length > 200) throw new UnauthorizedError();
  if (isAdminKey(key, deps.config.adminKey)) return { kind: 'admin' };
  const keyHash = hashApiKey(key);
  const cached = cache?.get(keyHash);
  if (cached) return cached;
  const row = await deps.store.findApiKeyByHash(keyHash);
  if (!row) throw new UnauthorizedError('The API key is not valid.');
  const principal: Principal = { kind: 'account', accountId: row.accountId, keyId: row.id };
  cache?.set(keyHash, principal);
  return principal;
}

/** The `onRequest` hook: enforces the route's `config.access`. */
export function accessHook(deps: Pick<AppDeps, 'config' | 'store'>) {
  const cache = new ApiKeyCache();
  return async (request: FastifyRequest): Promise<void> => {
    const access = request.routeOptions.config?.access ?? 'public';
    if (access === 'public') return;
    const principal = await authenticate(request, deps, cache);
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
