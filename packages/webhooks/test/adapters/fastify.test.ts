import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifyWebhooks } from '../../src/adapters/fastify/index.js';
import { generateTestHeaders } from '../../src/index.js';
import { expectCommonCases, FAIL, recordingWebhooks, SECRET, send } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('Fastify 5 adapter on a live server', () => {
  it('registers a raw-body route: 200, 401, 400, 500; the app keeps its JSON parser', async () => {
    const { webhooks, handled } = recordingWebhooks(FAIL);
    app = Fastify();
    app.post('/other', async (request) => ({ echoed: request.body }));
    await app.register(fastifyWebhooks(webhooks, { path: '/webhooks' }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    await expectCommonCases(`${url}/webhooks`, handled);
    const other = await send(`${url}/other`, '{"a":1}', { 'content-type': 'application/json' });
    expect(other.json).toEqual({ echoed: { a: 1 } });
  });

  it('takes any content type on its route and answers 413 beyond bodyLimit', async () => {
    const { webhooks, handled } = recordingWebhooks();
    app = Fastify();
    await app.register(fastifyWebhooks(webhooks, { bodyLimit: 2000 }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const request = await generateTestHeaders('agent.created', SECRET, { id: 'evt_t' });
    const headers = { ...request.headers, 'content-type': 'text/plain' };
    expect((await send(`${url}/webhooks`, request.body, headers)).status).toBe(200);
    expect(handled).toEqual(['evt_t']);
    const big = await send(`${url}/webhooks`, 'x'.repeat(5000), request.headers);
    expect(big.status).toBe(413);
  });
});
