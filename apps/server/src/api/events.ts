/**
 * `/v1/events`: accept events (catalog validation, size cap, idempotency via `idempotency.ts`), fan them out in the
 * store, wake the engine; and read them back (SPEC §5).
 */
import { isEventName, isOperationalEvent } from '@agentfactory/webhooks';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type ErrorDetail,
  MAX_DETAILS,
  NotFoundError,
  PayloadTooLargeError,
  SchemaViolationError,
  UnknownEventTypeError,
  ValidationError,
} from '../errors.js';
import { isId } from '../ids.js';
import type { EventRow, InsertEventResult, NewEvent } from '../store/types.js';
import { accountOf } from './auth.js';
import type { CatalogValidator } from './catalog-validator.js';
import type { AppDeps } from './deps.js';
import { buildEnvelope } from './envelope.js';
import { checkIdempotencyKey, conflictOf, requestHash } from './idempotency.js';
import { eventBodyLimit } from './json-body.js';
import { type Cursors, parseTime } from './query.js';
import type { RateLimits } from './rate-limits.js';
import {
  BatchBody,
  EventListQuery,
  EventSchema,
  errorResponses,
  IdParams,
  Page,
  PostEventBody,
} from './schemas.js';
import { serializeEvent } from './serialize.js';

const tags = ['events'];
const BATCH_BODY_LIMIT = 5 * 1024 * 1024;

/** The account an event is posted for: the caller's, or `account_id` with the admin key. */
async function targetAccount(
  request: FastifyRequest,
  accountIdField: string | undefined,
  deps: AppDeps,
): Promise<string> {
  const p = request.principal;
  if (p?.kind === 'account') {
    if (accountIdField !== undefined && accountIdField !== p.accountId)
      throw new NotFoundError('account');
    return p.accountId;
  }
  if (accountIdField === undefined)
    throw ValidationError.field('/account_id', 'account_id is required with the admin key');
  const account = isId('acct', accountIdField)
    ? await deps.store.getAccount(accountIdField)
    : undefined;
  if (!account) throw new NotFoundError('account');
  return account.id;
}

interface Problem {
  kind: 'unknown' | 'too_large' | 'schema';
  /** The first `MAX_DETAILS` at most. */
  details: ErrorDetail[];
  /** How many there were. */
  total: number;
}

export function eventRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  cursors: Cursors,
  catalog: CatalogValidator,
  rateLimits: RateLimits,
): void {
  const { store, clock, config, engine, metrics } = deps;
  const maxPayload = config.maxPayloadBytes;

  /**
   * Problems of one `{event, data}`, paths under `prefix` (`` or `/events/3`), with at most
   * `room` details formatted (a batch stops collecting once it holds `MAX_DETAILS`).
   */
  function problemOf(
    event: string,
    data: unknown,
    prefix: string,
    room = MAX_DETAILS,
  ): Problem | null {
    if (event === 'webhook.test')
      return {
        kind: 'unknown',
        details: [
          { path: `${prefix}/event`, message: 'webhook.test is sent only by the test action' },
        ],
        total: 1,
      };
    if (isOperationalEvent(event))
      return {
        kind: 'unknown',
        details: [
          {
            path: `${prefix}/event`,
            message: `${event} is an operational event, sent only by the service itself`,
          },
        ],
        total: 1,
      };
    if (!isEventName(event))
      return {
        kind: 'unknown',
        details: [
          { path: `${prefix}/event`, message: `"${event}" is not an event type of the catalog` },
        ],
        total: 1,
      };
    return catalog.problems(event, data, `${prefix}/data`, room);
  }

  function throwProblem(p: Problem, batch: boolean): never {
    const where = batch ? ` (${p.details[0]!.path})` : '';
    if (p.kind === 'unknown')
      throw new UnknownEventTypeError(
        `Unknown event type${where}: ${p.details[0]!.message}.`,
        p.details,
        p.total,
      );
    if (p.kind === 'too_large')
      throw new PayloadTooLargeError(`The event data is too large${where}.`, p.details, p.total);
    throw new SchemaViolationError(
      `The event data does not match the event type's schema${where}.`,
      p.details,
      p.total,
    );
  }

  async function insert(accountId: string, events: NewEvent[]): Promise<InsertEventResult[]> {
    const results = await store.insertEvents(accountId, events, clock.now());
    const created = results.filter((r) => r.status === 'created').length;
    if (created > 0) {
      metrics.eventsAccepted(created);
      engine.notify();
    }
    return results;
  }

  app.post<{ Body: Static<typeof PostEventBody> }>(
    '/v1/events',
    {
      config: { access: 'any', scope: 'events:write', rateLimit: 'events' },
      bodyLimit: eventBodyLimit(maxPayload),
      schema: {
        tags,
        summary: 'Send an event',
        description:
          "Validates `data` against the event type's schema, stores the event and one delivery per active matching webhook, and answers 202 once all of it is durable. `Idempotency-Key` (kept 24 h per account) makes a retried request answer the first event.",
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ description: 'Up to 255 characters' })),
        }),
        body: PostEventBody,
        response: { 202: EventSchema, ...errorResponses(400, 401, 404, 409, 413, 422, 429) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const accountId = await targetAccount(request, body.account_id, deps);
      const header = request.headers['idempotency-key'];
      const key =
        typeof header === 'string' ? checkIdempotencyKey(header, '/Idempotency-Key') : undefined;
      const problem = problemOf(body.event, body.data, '');
      if (problem) throwProblem(problem, false);
      await rateLimits.takeEvents(reply, accountId, 1);
      const now = clock.now();
      const event = buildEnvelope(
        body.event,
        body.data,
        now,
        key === undefined ? undefined : { key, requestHash: requestHash(body.event, body.data) },
      );
      const [result] = await insert(accountId, [event]);
      const conflict = conflictOf(result!, '/Idempotency-Key');
      if (conflict) throw conflict;
      const row = (result as { event: EventRow }).event;
      if (result!.status === 'replayed') reply.header('idempotent-replayed', 'true');
      return reply.code(202).send(serializeEvent(row));
    },
  );

  app.post<{ Body: Static<typeof BatchBody> }>(
    '/v1/events/batch',
    {
      config: { access: 'any', scope: 'events:write', rateLimit: 'events' },
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        tags,
        summary: 'Send up to 100 events at once',
        description:
          'All-or-nothing: when any event is invalid none is stored, and the error details name its index (`/events/3/data/agent_id`). Answers the events in request order.',
        body: BatchBody,
        response: {
          202: Type.Object({ data: Type.Array(EventSchema) }),
          ...errorResponses(400, 401, 404, 409, 413, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const accountId = await targetAccount(request, body.account_id, deps);
      const keys = new Set<string>();
      let firstProblem: Problem | null = null;
      const details: ErrorDetail[] = [];
      let total = 0;
      body.events.forEach((item, i) => {
        if (item.idempotency_key !== undefined) {
          const path = `/events/${i}/idempotency_key`;
          checkIdempotencyKey(item.idempotency_key, path);
          if (keys.has(item.idempotency_key))
            throw ValidationError.field(
              path,
              'the same idempotency_key is used twice in this batch',
            );
          keys.add(item.idempotency_key);
        }
        const room = MAX_DETAILS - details.length;
        const problem = problemOf(item.event, item.data, `/events/${i}`, room);
        if (problem) {
          firstProblem ??= problem;
          if (problem.kind === firstProblem.kind) {
            details.push(...problem.details.slice(0, room));
            total += problem.total;
          }
        }
      });
      if (firstProblem) throwProblem({ ...(firstProblem as Problem), details, total }, true);
      // Counted in events: a batch of 100 takes 100.
      await rateLimits.takeEvents(reply, accountId, body.events.length);
      const now = clock.now();
      const events = body.events.map((item) =>
        buildEnvelope(
          item.event,
          item.data,
          now,
          item.idempotency_key === undefined
            ? undefined
            : { key: item.idempotency_key, requestHash: requestHash(item.event, item.data) },
        ),
      );
      const results = await insert(accountId, events);
      for (const r of results) {
        const index = 'index' in r ? r.index : -1;
        const conflict = conflictOf(r, `/events/${index}/idempotency_key`);
        if (conflict) throw conflict;
      }
      return reply.code(202).send({
        data: results.map((r) => serializeEvent((r as { event: EventRow }).event)),
      });
    },
  );

  app.get<{ Querystring: Static<typeof EventListQuery> }>(
    '/v1/events',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'List events, newest first',
        querystring: EventListQuery,
        response: { 200: Page(EventSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await store.listEvents(
        accountOf(request),
        {
          event: q.event,
          since: parseTime('/since', q.since),
          until: parseTime('/until', q.until),
        },
        { limit: q.limit ?? 50, cursor: cursors.check('evt', accountOf(request), q.cursor) },
      );
      return {
        data: page.data.map(serializeEvent),
        next_cursor: cursors.issue(accountOf(request), page.nextCursor),
      };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/events/:id',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'Read an event and the ids of its deliveries',
        params: IdParams,
        response: { 200: EventSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const row = isId('evt', id) ? await store.getEvent(accountOf(request), id) : undefined;
      if (!row) throw new NotFoundError('event');
      return serializeEvent(row);
    },
  );
}
