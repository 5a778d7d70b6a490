/** `/v1/deliveries`: the delivery log and manual retry (SPEC §4–§5). */
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ConflictError, NotFoundError } from '../errors.js';
import { isId } from '../ids.js';
import { accountOf } from './auth.js';
import type { AppDeps } from './deps.js';
import { type Cursors, parseTime } from './query.js';
import { DeliveryListQuery, DeliverySchema, errorResponses, IdParams, Page } from './schemas.js';
import { serializeDelivery } from './serialize.js';

const tags = ['deliveries'];

export function deliveryRoutes(app: FastifyInstance, deps: AppDeps, cursors: Cursors): void {
  const { store, clock, engine } = deps;

  app.get<{ Querystring: Static<typeof DeliveryListQuery> }>(
    '/v1/deliveries',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'List deliveries, newest first',
        querystring: DeliveryListQuery,
        response: { 200: Page(DeliverySchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await store.listDeliveries(
        accountOf(request),
        {
          webhookId: q.webhook_id,
          eventId: q.event_id,
          event: q.event,
          status: q.status,
          since: parseTime('/since', q.since),
          until: parseTime('/until', q.until),
        },
        { limit: q.limit ?? 50, cursor: cursors.check('dlv', accountOf(request), q.cursor) },
      );
      return {
        data: page.data.map(serializeDelivery),
        next_cursor: cursors.issue(accountOf(request), page.nextCursor),
      };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/deliveries/:id',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: 'Read a delivery with its attempts (oldest first)',
        params: IdParams,
        response: { 200: DeliverySchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const row = isId('dlv', id) ? await store.getDelivery(accountOf(request), id) : undefined;
      if (!row) throw new NotFoundError('delivery');
      return serializeDelivery(row);
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/deliveries/:id/retry',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Make one new attempt now',
        description:
          'When it fails, a failed delivery stays failed with no new schedule; a pending one keeps its schedule. 409 `delivery_in_flight` while an attempt runs.',
        params: IdParams,
        response: { 202: DeliverySchema, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const result = isId('dlv', id)
        ? await store.requestAttempt(accountOf(request), id, 'manual', clock.now())
        : undefined;
      if (result === undefined) throw new NotFoundError('delivery');
      if (result === 'in_flight')
        throw new ConflictError(
          'delivery_in_flight',
          'An attempt of this delivery is running; retry when it has finished.',
        );
      engine.notify();
      return reply.code(202).send(serializeDelivery(result));
    },
  );
}
