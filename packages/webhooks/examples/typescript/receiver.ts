/**
 * A complete receiver on Node's http module: typed handlers, dedupe, and the secret of the
 * previous rotation while it is still live. Run it with
 *   AF_WEBHOOK_SECRET=whsec_... npx tsx receiver.ts
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Webhooks } from '@agentfactory/webhooks';
import { createNodeMiddleware } from '@agentfactory/webhooks/node';

export function createReceiver(secrets: string | string[], log: (line: string) => void): Server {
  const webhooks = new Webhooks({ secret: secrets, dedupe: true });

  webhooks.on('conversation.message', (event) => {
    log(
      `${event.data.role ?? 'user'} said "${event.data.message}" in ${event.data.conversation_id}`,
    );
  });
  webhooks.on(['agent.deployed', 'agent.undeployed'], (event) => {
    log(`${event.event}: ${event.data.agent_id} in ${event.data.environment}`);
  });
  webhooks.on('usage.threshold', (event) => {
    log(`${event.data.metric} at ${event.data.threshold_percent}% of ${event.data.limit}`);
  });
  webhooks.onAny((event) => log(`received ${event.event} ${event.id}`));
  webhooks.onError((error, { stage }) => log(`${stage} error: ${String(error)}`));

  return createServer(createNodeMiddleware(webhooks, { path: '/webhooks' }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const secret = process.env.AF_WEBHOOK_SECRET;
  if (!secret) throw new Error("Set AF_WEBHOOK_SECRET to the endpoint's signing secret.");
  const previous = process.env.AF_WEBHOOK_PREVIOUS_SECRET;
  const port = Number(process.env.PORT ?? 3000);
  createReceiver(previous ? [secret, previous] : secret, console.log).listen(port, () =>
    console.log(`listening on http://127.0.0.1:${port}/webhooks`),
  );
}
