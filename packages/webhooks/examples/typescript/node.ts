import { createServer } from 'node:http';
import { Webhooks } from '@agentfactory/webhooks';
import { createNodeMiddleware } from '@agentfactory/webhooks/node';

const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
webhooks.on('conversation.message', (event) => console.log(event.data.message));

// A plain listener; as middleware, (req, res, next) passes other paths to next().
createServer(createNodeMiddleware(webhooks, { path: '/webhooks' })).listen(3000);
