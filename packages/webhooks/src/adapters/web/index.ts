/**
 * Web standard adapter: `Request` → `Response`, for Hono, Next.js route handlers, Bun, Deno and
 * Workers (tested here with Hono on Node).
 */
import type { Webhooks } from '../../webhooks.js';

export interface WebHandlerOptions {
  /** Largest body accepted, in bytes; larger answers 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

function json(status: number, code: string, message: string, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/**
 * A `(request: Request) => Promise<Response>` handler for deliveries.
 *
 * @example
 * // app/api/webhooks/route.ts (Next.js)
 * import { Webhooks } from '@agentfactory/webhooks';
 * import { createWebHandler } from '@agentfactory/webhooks/web';
 *
 * const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
 * webhooks.on('agent.deployed', (event) => console.log(event.data.environment));
 * export const POST = createWebHandler(webhooks);
 */
export function createWebHandler(
  webhooks: Webhooks,
  options: WebHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  return async (request) => {
    if (request.method !== 'POST') {
      return json(405, 'method_not_allowed', 'Deliveries are POST requests.', { allow: 'POST' });
    }
    try {
      const declared = Number(request.headers.get('content-length') ?? 0);
      if (declared > limit) {
        return json(413, 'payload_too_large', `The body is larger than ${limit} bytes.`);
      }
      const body = new Uint8Array(await request.arrayBuffer());
      if (body.length > limit) {
        return json(413, 'payload_too_large', `The body is larger than ${limit} bytes.`);
      }
      const result = await webhooks.receive({ body, headers: request.headers });
      return new Response(result.body, { status: result.status, headers: result.headers });
    } catch {
      return json(500, 'internal_error', 'The webhook could not be processed.');
    }
  };
}
