/**
 * Express 5 adapter. It reads the raw body itself, so mount it without a body parser (or after
 * `express.raw()`); when `express.json()` already parsed the body it answers 400
 * `body_already_parsed` with the fix, instead of waiting for a stream that was consumed.
 */
import type { Webhooks } from '../../webhooks.js';
import {
  handleNodeRequest,
  type NextFunction,
  type NodeMiddlewareOptions,
  type NodeRequestLike,
  type NodeResponseLike,
} from '../node/index.js';

export type ExpressMiddlewareOptions = Pick<NodeMiddlewareOptions, 'maxBodyBytes'>;

/**
 * An Express route handler for deliveries; route it yourself with `app.post(path, …)`.
 *
 * @example
 * import express from 'express';
 * import { Webhooks } from '@agentfactory/webhooks';
 * import { createExpressMiddleware } from '@agentfactory/webhooks/express';
 *
 * const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
 * webhooks.on('conversation.message', (event) => console.log(event.data.message));
 * const app = express();
 * app.post('/webhooks', createExpressMiddleware(webhooks)); // before any app.use(express.json())
 * app.listen(3000);
 */
export function createExpressMiddleware(
  webhooks: Webhooks,
  options: ExpressMiddlewareOptions = {},
): (req: NodeRequestLike, res: NodeResponseLike, next?: NextFunction) => Promise<void> {
  return (req, res) => handleNodeRequest(webhooks, req, res, options);
}
