/**
 * What one does with a webhook besides editing it (SPEC §5): the test action (one attempt now,
 * through the engine, answered with what the receiver said), recover (failed deliveries in a
 * window due again) and stats over a window.
 */
import { eventSamples, isEventName } from '@agentfactory/webhooks';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../config.js';
import { diagnose } from '../delivery/diagnosis.js';
import {
  PayloadTooLargeError,
  SchemaViolationError,
  UnknownEventTypeError,
  ValidationError,
} from '../errors.js';
import { newId } from '../ids.js';
import type { AuditRecorder } from './audit.js';
import { accountOf } from './auth.js';
import type { CatalogValidator } from './catalog-validator.js';
import type { AppDeps } from './deps.js';
import { buildEnvelope } from './envelope.js';
import { eventBodyLimit } from './json-body.js';
import { parseTime } from './query.js';
import {
  errorResponses,
  IdParams,
  RecoverBody,
  StatsQuery,
  StatsSchema,
  TestBody,
  TestResult,
} from './schemas.js';
import { rfc3339 } from './serialize.js';
import { loadWebhook } from './webhooks.js';

const tags = ['webhooks'];
const MAX_STATS_WINDOW_MS = 90 * 86_400_000;
const MAX_STATS_BUCKETS = 1000;

export function webhookActionRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  catalog: CatalogValidator,
  audit: AuditRecorder,
): void {
  const { store, clock, config, engine } = deps;
  const maxPayload = config.maxPayloadBytes;
  const load = (accountId: string, id: string) => loadWebhook(store, accountId, id);

  /** Edited `data` for `event`, checked as `POST /v1/events` checks it (size cap, schema). */
  function checkData(event: string, data: unknown): void {
    const p = catalog.problems(event, data, '/data');
    if (p?.kind === 'too_large')
      throw new PayloadTooLargeError('The event data is too large.', p.details, p.total);
    if (p)
      throw new SchemaViolationError(
        "The event data does not match the event type's schema.",
        p.details,
        p.total,
      );
  }

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof TestBody> }>(
    '/v1/webhooks/:id/test',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Send a test event now',
        description:
          'One attempt now, even to an inactive endpoint, never retried: a `webhook.test` event, or `event` with its sample (or `data`, validated like `POST /v1/events`) and `X-AgentFactory-Test: 1`. Answers 200 whatever the receiver answered, with what was sent (`request`), what came back (`response`) and, on failure, a `diagnosis` with its fix.',
        params: IdParams,
        body: TestBody,
        response: { 200: TestResult, ...errorResponses(400, 401, 403, 404, 413, 422) },
      },
      bodyLimit: eventBodyLimit(maxPayload),
    },
    async (request) => {
      const accountId = accountOf(request);
      const webhook = await load(accountId, request.params.id);
      const chosen = request.body.event;
      if (chosen !== undefined && !isEventName(chosen))
        throw new UnknownEventTypeError(`"${chosen}" is not an event type of the catalog.`, [
          { path: '/event', message: 'is not an event type of the catalog' },
        ]);
      const sampleEvent = chosen !== undefined && chosen !== 'webhook.test';
      const edited = request.body.data;
      if (edited !== undefined) {
        if (!sampleEvent)
          throw ValidationError.field(
            '/event',
            'data is sent only with a catalog event: name it in `event` (not webhook.test)',
          );
        checkData(chosen, edited);
      }
      const name = sampleEvent ? chosen : 'webhook.test';
      const data = sampleEvent
        ? (edited ?? eventSamples[chosen])
        : { webhook_id: webhook.id, message: 'This is a test event from Agent Factory.' };
      const now = clock.now();
      const event = buildEnvelope(name, data, now);
      const claimed = await store.insertTestDelivery(
        accountId,
        webhook.id,
        event,
        {
          id: newId('dlv', now),
          owner: `test-${process.pid}`,
          leaseMs: config.delivery.timeoutMs + 30_000,
        },
        now,
      );
      const outcome = await engine.sendTest(claimed, { sampleEvent });
      const a = outcome.attempt;
      const url = claimed.webhook?.url ?? webhook.url;
      return {
        delivery_id: outcome.deliveryId,
        success: a.succeeded,
        status_code: a.statusCode,
        duration_ms: Math.round(a.durationMs),
        response_body: a.responseBody,
        response_body_encoding: a.responseBodyEncoding,
        error: a.error,
        // The headers as the attempt records them: as sent, custom values masked.
        request: { url, method: 'POST' as const, headers: a.requestHeaders, body: claimed.body },
        response:
          a.statusCode === null
            ? null
            : {
                status: a.statusCode,
                headers: a.responseHeaders,
                body: a.responseBody,
                body_encoding: a.responseBodyEncoding,
              },
        diagnosis: diagnose({
          url,
          error: a.error,
          statusCode: a.statusCode,
          responseHeaders: a.responseHeaders,
          responseBody: a.responseBody,
          responseBodyEncoding: a.responseBodyEncoding,
          detail: outcome.detail,
          timeoutMs: config.delivery.timeoutMs,
        }),
      };
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof RecoverBody> }>(
    '/v1/webhooks/:id/recover',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Re-attempt failed deliveries',
        description:
          'Every failed delivery of this webhook created between `since` and `until` (default now) gets one new attempt now.',
        params: IdParams,
        body: RecoverBody,
        response: {
          202: Type.Object({ deliveries: Type.Integer() }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const webhook = await load(accountId, request.params.id);
      const now = clock.now();
      const since = parseTime('/since', request.body.since);
      const until = parseTime('/until', request.body.until) ?? now;
      if (until < since) throw ValidationError.field('/until', 'until must not be before since');
      const count = await store.recoverDeliveries(accountId, webhook.id, since, until, now);
      if (count > 0) engine.notify();
      await audit.record(request, 'webhook.recover', webhook.id, {
        since: rfc3339(since),
        until: rfc3339(until),
        deliveries: count,
      });
      return reply.code(202).send({ deliveries: count });
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof StatsQuery> }>(
    '/v1/webhooks/:id/stats',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'Delivery statistics over a window',
        description:
          'Attempts in the window (success rate, p50/p95 duration) and deliveries created per bucket by status.',
        params: IdParams,
        querystring: StatsQuery,
        response: { 200: StatsSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const webhook = await load(accountId, request.params.id);
      const windowText = (request.query.window ?? '24h').trim();
      const windowMs = durationParam('window', windowText);
      const bucketMs = durationParam('bucket', request.query.bucket ?? '1h');
      if (windowMs > MAX_STATS_WINDOW_MS)
        throw ValidationError.field('/window', 'window must be at most 90d');
      if (bucketMs > windowMs)
        throw ValidationError.field('/bucket', 'bucket must not be longer than window');
      if (windowMs / bucketMs > MAX_STATS_BUCKETS)
        throw ValidationError.field('/bucket', `at most ${MAX_STATS_BUCKETS} buckets per window`);
      // Buckets align to multiples of `bucket` since the epoch (whole UTC hours for 1h); the
      // last one holds now.
      const until = Math.floor(clock.now() / bucketMs) * bucketMs + bucketMs;
      const stats = await store.webhookStats(accountId, webhook.id, {
        since: until - windowMs,
        until,
        bucketMs,
      });
      return {
        window: windowText,
        success_rate: stats.attempts === 0 ? null : stats.succeededAttempts / stats.attempts,
        attempts: stats.attempts,
        p50_ms: stats.p50Ms,
        p95_ms: stats.p95Ms,
        buckets: stats.buckets.map((b) => ({
          start: rfc3339(b.start),
          succeeded: b.succeeded,
          failed: b.failed,
          pending: b.pending,
        })),
      };
    },
  );
}

function durationParam(name: string, text: string): number {
  try {
    const ms = parseDuration(text);
    if (ms < 60_000) throw new Error('must be at least 1m');
    return ms;
  } catch (err) {
    throw ValidationError.field(`/${name}`, `${name} ${(err as Error).message}`);
  }
}
