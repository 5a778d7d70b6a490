// Runs the SDK's core on another runtime (Bun, Deno): every signature vector through the public
// API, and the Web adapter behind the runtime's own HTTP server on loopback. Prints one line per
// check and exits non-zero on the first failure. Started by runtimes.test.ts.
import { readFileSync } from 'node:fs';
import { createWebHandler } from '../../src/adapters/web/index.ts';
import {
  constructEvent,
  generateTestHeaders,
  signPayload,
  verifySignature,
  Webhooks,
} from '../../src/index.ts';

const fixture = new URL('../fixtures/signatures.json', import.meta.url);
const { cases } = JSON.parse(readFileSync(fixture, 'utf8'));
const fail = (message) => {
  console.log(`FAIL ${message}`);
  process.exit(1);
};

for (const c of cases) {
  const signed = await signPayload({
    body: c.body,
    secret: c.signing_secrets ?? c.secret,
    id: c.webhook_id,
    timestamp: Number(c.webhook_timestamp),
  });
  if (signed['x-agentfactory-signature'] !== c.x_agentfactory_signature) fail(`sign ${c.name}`);
  if (signed['webhook-signature'] !== c.webhook_signature) fail(`sign standard ${c.name}`);
  for (const secrets of c.signing_secrets ? [c.secret, c.signing_secrets[0]] : [c.secret]) {
    const event = await constructEvent(c.body, signed, secrets, {
      now: () => Number(c.webhook_timestamp) * 1000,
      requireTimestamp: true,
    });
    if (event.id !== JSON.parse(c.body).id) fail(`constructEvent ${c.name}`);
    if (!(await verifySignature(c.body, c.x_agentfactory_signature, secrets)))
      fail(`verify ${c.name}`);
  }
  if (await verifySignature(c.body, c.x_agentfactory_signature, 'wrong-secret'))
    fail('wrong secret');
}
console.log(`ok vectors ${cases.length}`);

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const handled = [];
const webhooks = new Webhooks({ secret, dedupe: true }).onAny((event) => handled.push(event.id));
const handler = createWebHandler(webhooks);
let server;
let url;
if (globalThis.Bun) {
  server = globalThis.Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handler });
  url = `http://127.0.0.1:${server.port}/webhooks`;
} else if (globalThis.Deno) {
  server = globalThis.Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, handler);
  url = `http://127.0.0.1:${server.addr.port}/webhooks`;
} else {
  fail('neither Bun nor Deno');
}
const post = async (body, headers) =>
  (await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(5000) })).status;
const request = await generateTestHeaders('conversation.message', secret);
const statuses = [
  await post(request.body, request.headers),
  await post(request.body, request.headers),
  await post(request.body.replace('Hello', 'Hullo'), request.headers),
  await post(request.body, { 'content-type': 'application/json' }),
];
if (statuses.join() !== '200,200,401,401' || handled.length !== 1) {
  fail(`server statuses ${statuses.join()} handled ${handled.length}`);
}
console.log('ok server');
await (server.stop?.() ?? server.shutdown?.());
console.log('done');
