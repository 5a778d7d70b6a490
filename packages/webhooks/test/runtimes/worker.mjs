// A Cloudflare Worker (ES module syntax) run by workerd in workerd.test.ts: the SDK's ESM build is
// laid beside it as `sdk/`, and the shared vectors as `signatures.json`.
import { createWebHandler } from './sdk/adapters/web/index.js';
import { constructEvent, signPayload, verifySignature, Webhooks } from './sdk/index.js';
import vectors from './signatures.json';

const handled = [];
const webhooks = new Webhooks({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', dedupe: true });
webhooks.onAny((event) => {
  handled.push(event.id);
});
const handler = createWebHandler(webhooks);

async function checkVectors() {
  const failures = [];
  for (const c of vectors.cases) {
    const signed = await signPayload({
      body: c.body,
      secret: c.signing_secrets ?? c.secret,
      id: c.webhook_id,
      timestamp: Number(c.webhook_timestamp),
    });
    if (signed['x-agentfactory-signature'] !== c.x_agentfactory_signature)
      failures.push(`sign ${c.name}`);
    if (signed['webhook-signature'] !== c.webhook_signature) failures.push(`standard ${c.name}`);
    for (const secrets of c.signing_secrets ? [c.secret, c.signing_secrets[0]] : [c.secret]) {
      const event = await constructEvent(c.body, signed, secrets, {
        now: () => Number(c.webhook_timestamp) * 1000,
        requireTimestamp: true,
      });
      if (event.id !== JSON.parse(c.body).id) failures.push(`constructEvent ${c.name}`);
      const ok = await verifySignature(c.body, c.x_agentfactory_signature, secrets);
      if (!ok) failures.push(`verifySignature ${c.name}`);
    }
  }
  return { cases: vectors.cases.length, failures };
}

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === '/vectors') return Response.json(await checkVectors());
    if (pathname === '/handled') return Response.json(handled);
    return handler(request);
  },
};
