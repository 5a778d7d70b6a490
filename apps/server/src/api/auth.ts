/**
 * Authentication (SPEC §5): `Authorization: Bearer <key>`. The admin key (from the
 * configuration, compared in constant time) manages accounts and may post events for any
 * account; an account key (looked up by its SHA-256 hash) sees only its own account, and only
 * the routes its scopes allow (`scopes.ts`).
 */

import type { FastifyRequest } from 'fastify';
import { BUILT_IN } from '../config.js';
import { ForbiddenError, InsufficientScopeError, UnauthorizedError } from '../errors.js';
import { hashApiKey, isAdminKey } from '../security/api-keys.js';
import type { ApiKeyRow, ApiKeyScope } from '../store/types.js';
import type { AppDeps } from './deps.js';
import { allows } from './scopes.js';

export type Principal =
  | { kind: 'admin' }
  | { kind: 'account'; accountId: string; keyId: string; scopes: ApiKeyScope[] };

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
const LAST_USED_MS = BUILT_IN.apiKeyLastUsedMs;

type Account = Extract<Principal, { kind: 'account' }>;

interface Entry {
  principal: Account;
  /** When the lookup that found the key valid started: it vouches for nothing after that. */
  checkedAt: number;
  /** `checkedAt + KEY_CACHE_MS`, or the key's expiry when sooner. */
  until: number;
  /** A lookup ahead of `until` is under way (see `ApiKeyCache.get`). */
  refreshing: boolean;
  /** When `lastUsedAt` was last written (or read) for this key. */
  usedAt: number;
}

/**
 * Account keys found valid recently, by hash: a client sending many requests costs one lookup
 * per key every `KEY_CACHE_MS` (half that under steady use, in the background), not one per
 * request. Revocation across processes rests on that bound: an entry vouches for a key only
 * `KEY_CACHE_MS` past the start of the lookup that found it valid, so a key revoked (or
 * expired, or whose account was deleted) in any process is refused everywhere within it. The
 * process that revokes forgets the key at once (`forget`), and a lookup that was under way
 * then does not put it back (`generation`). Only valid keys are kept (an unknown key is looked
 * up every time), and the map is bounded (the oldest entry goes first).
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by `forget`: a lookup that started before may not store what it found. */
  private generation = 0;

  constructor(
    readonly now: () => number = Date.now,
    private readonly ttlMs: number = KEY_CACHE_MS,
  ) {}

  /** A fresh entry, or undefined. */
  get(keyHash: string): Entry | undefined {
    const hit = this.entries.get(keyHash);
    if (!hit) return undefined;
    if (hit.until > this.now()) return hit;
    this.entries.delete(keyHash);
    return undefined;
  }

  /** True when the entry is past half its life and no refresh runs: the caller starts one. */
  wantsRefresh(entry: Entry): boolean {
    if (entry.refreshing || this.now() - entry.checkedAt < this.ttlMs / 2) return false;
    entry.refreshing = true;
    return true;
  }

  /** A token for a lookup about to start: `set` stores its result only if nothing was forgotten. */
  begin(): { generation: number; startedAt: number } {
    return { generation: this.generation, startedAt: this.now() };
  }

  set(
    keyHash: string,
    row: ApiKeyRow,
    lookup: { generation: number; startedAt: number },
  ): Account | undefined {
    const principal: Account = {
      kind: 'account',
      accountId: row.accountId,
      keyId: row.id,
      scopes: row.scopes,
    };
    if (lookup.generation !== this.generation) return principal;
    const previous = this.entries.get(keyHash);
    this.entries.delete(keyHash);
    if (this.entries.size >= KEY_CACHE_MAX) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    const until = Math.min(lookup.startedAt + this.ttlMs, row.expiresAt ?? Infinity);
    this.entries.set(keyHash, {
      principal,
      checkedAt: lookup.startedAt,
      until,
      refreshing: false,
      usedAt: Math.max(previous?.usedAt ?? -Infinity, row.lastUsedAt ?? -Infinity),
    });
    return principal;
  }

  /** Drops a key found invalid. */
  delete(keyHash: string): void {
    this.entries.delete(keyHash);
  }

  /** The key was revoked in this process: refused from now on, here. */
  forget(keyId: string): void {
    this.generation++;
    for (const [hash, entry] of this.entries) {
      if (entry.principal.keyId === keyId) this.entries.delete(hash);
    }
  }
}

/** Whether a key found by its hash may be used at `now`. */
function usable(row: ApiKeyRow | undefined, now: number): row is ApiKeyRow {
  return row !== undefined && row.revokedAt === null && (row.expiresAt ?? Infinity) > now;
}

/** Looks the key up and caches it when valid; undefined when it is not. */
async function lookUp(
  keyHash: string,
  deps: Pick<AppDeps, 'store'>,
  cache: ApiKeyCache,
): Promise<Account | undefined> {
  const lookup = cache.begin();
  const row = await deps.store.findApiKeyByHash(keyHash);
  if (!usable(row, cache.now())) {
    cache.delete(keyHash);
    return undefined;
  }
  return cache.set(keyHash, row, lookup);
}

/**
 * Records that the key was used, at most once per `LAST_USED_MS` per key and process (and the
 * store's condition makes it once per interval across processes): never a write per request,
 * never awaited by the request.
 */
function markUsed(
  cache: ApiKeyCache,
  entry: Entry | undefined,
  keyId: string,
  deps: Pick<AppDeps, 'store'> & Partial<Pick<AppDeps, 'logger'>>,
): void {
  const now = cache.now();
  if (entry && now - entry.usedAt < LAST_USED_MS) return;
  if (entry) entry.usedAt = now;
  deps.store.markApiKeyUsed(keyId, now, now - LAST_USED_MS).catch((err: unknown) => {
    deps.logger?.warn({ err, keyId }, 'recording when an API key was last used failed');
  });
}

/** Resolves the caller, or throws 401. */
export async function authenticate(
  request: FastifyRequest,
  deps: Pick<AppDeps, 'config' | 'store'> & Partial<Pick<AppDeps, 'logger'>>,
  cache: ApiKeyCache = new ApiKeyCache(),
): Promise<Principal> {
  const key = bearer(request);
  if (key === undefined || key.length > 200) throw new UnauthorizedError();
  if (isAdminKey(key, deps.config.adminKey)) return { kind: 'admin' };
  const keyHash = hashApiKey(key);
  const hit = cache.get(keyHash);
  if (hit) {
    if (cache.wantsRefresh(hit)) {
      // Ahead of expiry, so that steady traffic never waits for a lookup; `until` still bounds
      // how long this entry is believed if the refresh is slow or fails.
      lookUp(keyHash, deps, cache).catch(() => {
        hit.refreshing = false;
      });
    }
    markUsed(cache, hit, hit.principal.keyId, deps);
    return hit.principal;
  }
  const principal = await lookUp(keyHash, deps, cache);
  if (!principal) throw new UnauthorizedError('The API key is not valid.');
  markUsed(cache, cache.get(keyHash), principal.keyId, deps);
  return principal;
}

/** The `onRequest` hook: enforces the route's `config.access` and `config.scope`. */
export function accessHook(
  deps: Pick<AppDeps, 'config' | 'store'> & Partial<Pick<AppDeps, 'logger'>>,
  cache: ApiKeyCache = new ApiKeyCache(),
) {
  return async (request: FastifyRequest): Promise<void> => {
    const config = request.routeOptions.config;
    const access = config?.access ?? 'public';
    if (access === 'public') return;
    const principal = await authenticate(request, deps, cache);
    if (access === 'admin' && principal.kind !== 'admin')
      throw new ForbiddenError('This route needs the admin key.');
    if (access === 'account' && principal.kind !== 'account')
      throw new ForbiddenError(
        'The admin key manages accounts; use an account API key for this route.',
      );
    if (principal.kind === 'account') {
      // `requireDeclaredScopes` makes every such route declare one; `full` if one slipped by.
      const needed = config?.scope ?? 'full';
      if (!allows(principal.scopes, needed))
        throw new InsufficientScopeError(needed, principal.scopes);
    }
    request.principal = principal;
  };
}

/** The caller's account (routes with access `account`). */
export function accountOf(request: FastifyRequest): string {
  const p = request.principal;
  if (p?.kind !== 'account') throw new ForbiddenError('This route needs an account API key.');
  return p.accountId;
}

/** The calling key's record id, or null for the admin key: the audit log's actor. */
export function actorOf(request: FastifyRequest): string | null {
  const p = request.principal;
  return p?.kind === 'account' ? p.keyId : null;
}
