/**
 * Rate limits on the API (issue 16; SPEC §6 `AF_RATE_LIMIT`, `AF_INGEST_RATE_LIMIT`), both off by
 * default and, when off, not on the request's path at all:
 *
 * - `api`: management requests per API key (the admin key is one key), every authenticated route
 *   but the two that accept events; taken in an `onRequest` hook after authentication.
 * - `events`: events per account on `POST /v1/events` and `/v1/events/batch`, counted in events
 *   (a batch of 100 takes 100), taken by those routes once the request is valid and before
 *   anything is stored.
 *
 * The algorithm is GCRA (`rate-limit/gcra.ts`), its state in this process on SQLite and in
 * PostgreSQL when the store shares it (`rate-limit/limiter.ts`). Every limited answer carries
 * the IETF headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "api";q=200;w=2`
 * (the burst and the seconds it refills in) and `RateLimit: "api";r=57;t=1` (what is left and the
 * seconds until the bucket is full); a refusal is 429 `rate_limited` with `Retry-After`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { RateLimitedError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { RateOutcome, RatePolicy } from '../rate-limit/gcra.js';
import type { RateLimiter } from '../rate-limit/limiter.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `events`: the route is limited in events per account (`RateLimits.takeEvents`). */
    rateLimit?: 'events';
  }
}

export class RateLimits {
  private readonly api: RatePolicy | null;
  private readonly events: RatePolicy | null;

  constructor(
    settings: Config['rateLimits'],
    private readonly limiter: RateLimiter,
    private readonly metrics: Pick<Metrics, 'rateLimited'>,
  ) {
    this.api = settings.api && { name: 'api', ...settings.api };
    this.events = settings.events && { name: 'events', ...settings.events };
  }

  /** The `onRequest` hook of the `api` limit, or null when it is off (no hook at all). */
  apiHook(): ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | null {
    const policy = this.api;
    if (!policy) return null;
    return async (request, reply) => {
      const principal = request.principal;
      if (!principal || request.routeOptions.config?.rateLimit === 'events') return;
      const key = principal.kind === 'admin' ? 'api:admin' : `api:${principal.keyId}`;
      const result = await this.limiter.take(key, 1, policy);
      if (!result.allowed) this.metrics.rateLimited(policy.name);
      answer(reply, policy, result, 'requests with this API key');
    };
  }

  /** Takes `count` events from the account's bucket, or throws 429; nothing when the limit is off. */
  async takeEvents(reply: FastifyReply, accountId: string, count: number): Promise<void> {
    const policy = this.events;
    if (!policy) return;
    const result = await this.limiter.take(`events:${accountId}`, count, policy);
    if (!result.allowed) this.metrics.rateLimited(policy.name);
    answer(reply, policy, result, 'events for this account');
  }
}

/** Sets the headers of `result` on `reply`, and throws the 429 when it was refused. */
function answer(reply: FastifyReply, policy: RatePolicy, result: RateOutcome, what: string): void {
  const window = Math.max(1, Math.round(policy.burst / policy.perSecond));
  reply.header('ratelimit-policy', `"${policy.name}";q=${policy.burst};w=${window}`);
  reply.header(
    'ratelimit',
    `"${policy.name}";r=${result.remaining};t=${Math.ceil(result.resetMs / 1000)}`,
  );
  if (result.allowed) return;
  const rate = `${formatRate(policy.perSecond)}/s`;
  if (result.retryAfterMs === null)
    throw new RateLimitedError(
      `Too many ${what} at once: this request alone is more than the burst of ${policy.burst} (${rate} on average); send fewer in one request.`,
    );
  const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  reply.header('retry-after', String(seconds));
  throw new RateLimitedError(
    `Too many ${what}: the limit is ${rate} on average, ${policy.burst} at once; retry in ${seconds} s.`,
  );
}

function formatRate(perSecond: number): string {
  return Number.isInteger(perSecond) ? String(perSecond) : perSecond.toFixed(2);
}
