import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebHandler } from '../../src/adapters/web/index.js';
import { generateTestHeaders } from '../../src/index.js';
import { expectCommonCases, FAIL, recordingWebhooks, SECRET, send } from './helpers.js';

let close: (() => void) | undefined;
afterEach(() => {
  close?.();
  close = undefined;
});

async function listen(app: Hono): Promise<string> {
  const port = await new Promise<number>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve((info as AddressInfo).port),
    );
    close = () => server.close();
  });
  return `http://127.0.0.1:${port}`;
}

describe('Web Request → Response adapter, on Hono + @hono/node-server', () => {
  it('verifies and handles: 200, 401, 400, 500', async () => {
    const { webhooks, handled } = recordingWebhooks(FAIL);
    const handler = createWebHandler(webhooks);
    const app = new Hono();
    app.post('/webhooks', (c) => handler(c.req.raw));
    await expectCommonCases(`${await listen(app)}/webhooks`, handled);
  });

  it('answers 405 for other methods and 413 beyond maxBodyBytes', async () => {
    const { webhooks } = recordingWebhooks();
    const handler = createWebHandler(webhooks, { maxBodyBytes: 1000 });
    const app = new Hono();
    app.all('/webhooks', (c) => handler(c.req.raw));
    const url = `${await listen(app)}/webhooks`;
    expect((await send(url, null, {}, 'GET')).status).toBe(405);
    const request = await generateTestHeaders('agent.created', SECRET);
    expect((await send(url, request.body, request.headers)).status).toBe(200);
    expect((await send(url, 'x'.repeat(5000), request.headers)).status).toBe(413);
  });

  it('works directly on a Request, as in a Next.js route handler or a Worker', async () => {
    const { webhooks, handled } = recordingWebhooks();
    const POST = createWebHandler(webhooks);
    const request = await generateTestHeaders('agent.deployed', SECRET, { id: 'evt_next' });
    const response = await POST(
      new Request('http://localhost/api/webhooks', {
        method: 'POST',
        body: request.body,
        headers: request.headers,
      }),
    );
    expect(response.status).toBe(200);
    expect(handled).toEqual(['evt_next']);
  });
});
