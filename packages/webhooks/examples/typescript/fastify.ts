import { Webhooks } from '@agentfactory/webhooks';
import { fastifyWebhooks } from '@agentfactory/webhooks/fastify';
import Fastify from 'fastify';

const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
webhooks.on('agent.created', (event) => console.log(event.data.agent_name));

const app = Fastify();
await app.register(fastifyWebhooks(webhooks, { path: '/webhooks' })); // its own raw-body parser
await app.listen({ port: 3000 });
