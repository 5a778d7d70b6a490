import { Webhooks } from '@agentfactory/webhooks';
import { createExpressMiddleware } from '@agentfactory/webhooks/express';
import express from 'express';

const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
webhooks.on('conversation.message', (event) => console.log(event.data.message));

const app = express();
app.post('/webhooks', createExpressMiddleware(webhooks)); // before app.use(express.json())
app.use(express.json());
app.listen(3000);
