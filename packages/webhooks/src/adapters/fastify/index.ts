/**
 * Fastify 5 adapter: a plugin that registers the delivery route in its own encapsulated context
 * with a raw-body content-type parser, so the rest of the app keeps its JSON parser.
 */
import type { HeadersRecord } from '../../headers.js';
import type { Webhooks } from '../../webhooks.js';

/** The part of a Fastify request the route uses. */
export interface FastifyRequestLike {
  body: unknown;
  headers: HeadersRecord;
}

/** The part of a Fastify reply the route uses. */
export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload: string): unknown;
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    contentType: string,
    options: { parseAs: 'buffer'; bodyLimit?: number },
    parser: (
      request: unknown,
      body: Uint8Array,
      done: (error: Error | null, body?: unknown) => void,
    ) => void,
  ): unknown;
  post(
    path: string,
    handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>,
  ): unknown;
}

export interface FastifyWebhooksOptions {
  /** The route's path. Default `/webhooks`. */
  path?: string;
  /** Largest body accepted, in bytes (Fastify answers 413 beyond it). Default 1 MiB. */
  bodyLimit?: number;
}

/**
 * A Fastify plugin that receives deliveries at `path` with the raw body.
 *
 * @example
 * import Fastify from 'fastify';
 * import { Webhooks } from '@agentfactory/webhooks';
 * import { fastifyWebhooks } from '@agentfactory/webhooks/fastify';
 *
 * const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
 * webhooks.on('usage.limit', (event) => console.log(event.data.metric));
 * const app = Fastify();
 * await app.register(fastifyWebhooks(webhooks, { path: '/webhooks' }));
 * await app.listen({ port: 3000 });
 */
export function fastifyWebhooks(
  webhooks: Webhooks,
  options: FastifyWebhooksOptions = {},
): (fastify: FastifyInstanceLike) => Promise<void> {
  const path = options.path ?? '/webhooks';
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  return async (fastify) => {
    // Scoped to this plugin's context: the app's own parsers are untouched.
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
      done(null, body);
    });
    fastify.post(path, async (request, reply) => {
      const result = await webhooks.receive({ body: request.body ?? '', headers: request.headers });
      reply.code(result.status);
      for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
      return reply.send(result.body);
    });
  };
}
