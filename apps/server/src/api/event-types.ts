/** `GET /v1/event-types`: the catalog, straight from the SDK (SPEC §2). */
import { eventCatalog } from '@agentfactory/webhooks';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

export function eventTypeRoutes(app: FastifyInstance): void {
  const answer = { data: eventCatalog };
  app.get(
    '/v1/event-types',
    {
      schema: {
        tags: ['event types'],
        summary: 'The event catalog: name, description, JSON Schema and sample of every type',
        security: [],
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({
                name: Type.String(),
                description: Type.String(),
                schema: Type.Object({}, { additionalProperties: true }),
                sample: Type.Object({}, { additionalProperties: true }),
              }),
            ),
          }),
        },
      },
    },
    async () => answer,
  );
}
