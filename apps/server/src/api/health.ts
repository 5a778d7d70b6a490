/** `/healthz` (the process answers), `/readyz` (the database answers), `/metrics` (Prometheus). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { UnavailableError } from '../errors.js';
import type { AppDeps } from './deps.js';
import { errorResponses } from './schemas.js';

export function healthRoutes(app: FastifyInstance, deps: AppDeps): void {
  const tags = ['operations'];
  const Status = Type.Object({ status: Type.String() });

  app.get(
    '/healthz',
    { schema: { tags, summary: 'Liveness', security: [], response: { 200: Status } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags,
        summary: 'Readiness: 503 `unavailable` when the database cannot be reached',
        security: [],
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async (request) => {
      try {
        await deps.store.ping();
      } catch (err) {
        request.log.warn({ err }, 'readiness check failed');
        throw new UnavailableError();
      }
      return { status: 'ready' };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags,
        summary: 'Prometheus metrics',
        security: [],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const text = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
}
