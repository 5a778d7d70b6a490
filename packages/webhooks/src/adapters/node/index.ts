/**
 * Node `http` adapter: a `(req, res, next?)` listener that reads the raw body itself. Typed
 * structurally, so it has no dependency and also fits Express, Connect and Polka.
 */
import type { HeadersRecord } from '../../headers.js';
import type { WebhookResponse, Webhooks } from '../../webhooks.js';

/** The part of `http.IncomingMessage` the adapter uses. */
export interface NodeRequestLike extends AsyncIterable<unknown> {
  method?: string | undefined;
  url?: string | undefined;
  headers: HeadersRecord;
  /** Set when a body parser ran first (Express, Connect): used when raw, refused when parsed. */
  body?: unknown;
  /** True once the stream was consumed, e.g. by a body parser. */
  readableEnded?: boolean;
}

/** The part of `http.ServerResponse` the adapter uses. */
export interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export type NextFunction = (error?: unknown) => void;

export interface NodeMiddlewareOptions {
  /**
   * Only requests to this path (query string ignored) are handled; others go to `next`, or
   * answer 404 without it. Default: every request the listener gets is a delivery.
   */
  path?: string;
  /** Largest body accepted, in bytes; larger answers 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function send(res: NodeResponseLike, result: WebhookResponse): void {
  res.statusCode = result.status;
  for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
  res.end(result.body);
}

function error(status: number, code: string, message: string): WebhookResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error: { code, message } }),
  };
}

function isBytes(body: unknown): boolean {
  return typeof body === 'string' || ArrayBuffer.isView(body);
}

function toBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === 'string') return new TextEncoder().encode(chunk);
  if (ArrayBuffer.isView(chunk))
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('The request stream yielded something other than bytes.');
}

/** Reads the whole stream; `undefined` when it is over the limit (the rest is drained, not kept). */
async function readBody(req: NodeRequestLike, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = toBytes(chunk);
    size += bytes.length;
    if (size <= limit) chunks.push(bytes);
  }
  if (size > limit) return undefined;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/**
 * Handles one request that is known to be a delivery: reads the raw body (or takes the one a
 * raw body parser left in `req.body`), runs `webhooks.receive` and writes the answer.
 *
 * @example
 * // Inside your own routing, e.g. a Polka or Connect handler:
 * router.post('/webhooks', (req, res) => handleNodeRequest(webhooks, req, res));
 */
export async function handleNodeRequest(
  webhooks: Webhooks,
  req: NodeRequestLike,
  res: NodeResponseLike,
  options: NodeMiddlewareOptions = {},
): Promise<void> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  try {
    let body: unknown = req.body;
    // A parsed object with the stream still unread means a parser skipped this request (e.g.
    // Express 4 sets `req.body = {}` for other content types): the raw bytes are still there.
    const unread = req.readableEnded === false && !isBytes(body);
    if (body === undefined || unread) {
      body = await readBody(req, limit);
      if (body === undefined) {
        send(res, error(413, 'payload_too_large', `The body is larger than ${limit} bytes.`));
        return;
      }
    }
    send(res, await webhooks.receive({ body, headers: req.headers }));
  } catch {
    send(res, error(500, 'internal_error', 'The webhook could not be processed.'));
  }
}

/**
 * A Node `http` listener or Connect-style middleware for deliveries: POST to `path` is
 * verified and handled; other paths go to `next` (or answer 404).
 *
 * @example
 * import { createServer } from 'node:http';
 * import { Webhooks } from '@agentfactory/webhooks';
 * import { createNodeMiddleware } from '@agentfactory/webhooks/node';
 *
 * const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
 * webhooks.on('agent.created', (event) => console.log(event.data.agent_name));
 * createServer(createNodeMiddleware(webhooks, { path: '/webhooks' })).listen(3000);
 */
export function createNodeMiddleware(
  webhooks: Webhooks,
  options: NodeMiddlewareOptions = {},
): (req: NodeRequestLike, res: NodeResponseLike, next?: NextFunction) => Promise<void> {
  return async (req, res, next) => {
    if (options.path !== undefined) {
      const pathname = (req.url ?? '/').split('?')[0];
      if (pathname !== options.path) {
        if (next) return next();
        send(res, error(404, 'not_found', `Deliveries are received at ${options.path}.`));
        return;
      }
    }
    if (req.method !== 'POST') {
      const result = error(405, 'method_not_allowed', 'Deliveries are POST requests.');
      result.headers.allow = 'POST';
      send(res, result);
      return;
    }
    await handleNodeRequest(webhooks, req, res, options);
  };
}
