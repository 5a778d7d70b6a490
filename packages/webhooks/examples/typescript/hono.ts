import { Webhooks } from '@agentfactory/webhooks';
import { createWebHandler } from '@agentfactory/webhooks/web';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
webhooks.on('error.occurred', (event) => console.log(event.data.severity, event.data.message));

const handler = createWebHandler(webhooks);
const app = new Hono();
app.post('/webhooks', (c) => handler(c.req.raw));
serve({ fetch: app.fetch, port: 3000 });
