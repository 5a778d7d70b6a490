// app/api/webhooks/route.ts
import { Webhooks } from '@agentfactory/webhooks';
import { createWebHandler } from '@agentfactory/webhooks/web';

const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET! });
webhooks.on('agent.deployed', async (event) => {
  console.log(`${event.data.agent_id} is live in ${event.data.environment}`);
});

export const POST = createWebHandler(webhooks);
