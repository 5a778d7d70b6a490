import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeMiddleware } from '../../src/adapters/node/index.js';
import { generateTestHeaders } from '../../src/index.js';
import { baseUrl, expectCommonCases, FAIL, recordingWebhooks, SECRET, send } from './helpers.js';

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return baseUrl(server.address());
}

describe('node http adapter (createNodeMiddleware) on a live server', () => {
  it('verifies and handles deliveries at its path: 200, 401, 400, 500', async () => {
    const { webhooks, handled } = recordingWebhooks(FAIL);
    const url = await listen(createNodeMiddleware(webhooks, { path: '/webhooks' }));
    await expectCommonCases(`${url}/webhooks?source=af`, handled);
  });

  it('answers 404 off its path and 405 for other methods when used as the listener', async () => {
    const { webhooks } = recordingWebhooks();
    const url = await listen(createNodeMiddleware(webhooks, { path: '/webhooks' }));
    expect((await send(`${url}/other`, '{}', {})).status).toBe(404);
    const get = await send(`${url}/webhooks`, null, {}, 'GET');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('calls next() off its path when used as middleware', async () => {
    const { webhooks, handled } = recordingWebhooks();
    const middleware = createNodeMiddleware(webhooks, { path: '/webhooks' });
    const url = await listen((req, res) => {
      void middleware(req, res, () => {
        res.statusCode = 418;
        res.end('{}');
      });
    });
    expect((await send(`${url}/elsewhere`, '{}', {})).status).toBe(418);
    const request = await generateTestHeaders('agent.created', SECRET);
    expect((await send(`${url}/webhooks`, request.body, request.headers)).status).toBe(200);
    expect(handled).toHaveLength(1);
  });

  it('answers 413 beyond maxBodyBytes', async () => {
    const { webhooks } = recordingWebhooks();
    const url = await listen(createNodeMiddleware(webhooks, { maxBodyBytes: 1000 }));
    const big = await send(url, 'x'.repeat(5000), { 'content-type': 'application/json' });
    expect(big.status).toBe(413);
    expect(big.json.error?.code).toBe('payload_too_large');
  });
});
