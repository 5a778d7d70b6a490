/**
 * `/healthz` (the process answers), `/readyz` (the database answers and the start's warm-up has
 * finished: `warm-up.ts`), `/metrics` (Prometheus).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { UnauthorizedError, UnavailableError } from '../errors.js';
import { sameSecret } from '../security/api-keys.js';
import { bearer } from './auth.js';
import type { AppDeps } from './deps.js';
import { errorResponses } from './schemas.js';

/** How soon a load balancer may ask again while the service warms up, in seconds. */
const WARMING_RETRY_AFTER_S = 1;

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
        summary:
          'Readiness: 200 `{"status": "ready"}`; 503 `{"status": "warming"}` while the service warms up after its start (a second or less), 503 `unavailable` when the database cannot be reached',
        security: [],
        response: {
          200: Status,
          503: Type.Union([Status, Type.Ref('Error')]),
        },
      },
    },
    async (request, reply) => {
      try {
        await deps.store.ping();
      } catch (err) {
        request.log.warn({ err }, 'readiness check failed');
        throw new UnavailableError();
      }
      if (deps.readiness && !deps.readiness.warm)
        return reply
          .code(503)
          .header('retry-after', String(WARMING_RETRY_AFTER_S))
          .send({ status: 'warming' });
      return { status: 'ready' };
    },
  );

  // `AF_METRICS_TOKEN`: the metrics tell who is busy and failing; an operator who cannot keep
  // `/metrics` off the public network at a proxy can ask for a token instead.
  const token = deps.config.metricsToken;
  app.get(
    '/metrics',
    {
      schema: {
        tags,
        summary:
          'Prometheus metrics. Needs no key unless the service sets `AF_METRICS_TOKEN`: then `Authorization: Bearer <that token>`, else 401 `unauthorized`',
        security: [],
        produces: ['text/plain'],
        response: errorResponses(401),
      },
    },
    async (request, reply) => {
      if (token !== undefined) {
        const presented = bearer(request);
        if (presented === undefined || !sameSecret(presented, token))
          throw new UnauthorizedError(
            '/metrics needs `Authorization: Bearer <token>` with the token set in AF_METRICS_TOKEN.',
          );
      }
      const text = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
}
