import { once } from 'node:events';
import type { Server } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createExpressMiddleware } from '../../src/adapters/express/index.js';
import { generateTestHeaders } from '../../src/index.js';
import { baseUrl, expectCommonCases, FAIL, recordingWebhooks, SECRET, send } from './helpers.js';

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function listen(app: express.Express): Promise<string> {
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return baseUrl(server.address());
}

describe('Express 5 adapter on a live server', () => {
  it('reads the raw body itself: 200, 401, 400, 500', async () => {
    const { webhooks, handled } = recordingWebhooks(FAIL);
    const app = express();
    app.post('/webhooks', createExpressMiddleware(webhooks));
    app.use(express.json());
    app.post('/other', (req, res) => {
      res.json({ echoed: req.body });
    });
    const url = await listen(app);
    await expectCommonCases(`${url}/webhooks`, handled);
    // The app's own JSON routes still work.
    const other = await send(`${url}/other`, '{"a":1}', { 'content-type': 'application/json' });
    expect(other.json).toEqual({ echoed: { a: 1 } });
  });

  it('after express.json() it answers 400 body_already_parsed with the fix, without hanging', async () => {
    const { webhooks, handled } = recordingWebhooks();
    const app = express();
    app.use(express.json());
    app.post('/webhooks', createExpressMiddleware(webhooks));
    const url = await listen(app);
    const request = await generateTestHeaders('agent.created', SECRET);
    const started = Date.now();
    const reply = await send(`${url}/webhooks`, request.body, request.headers);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(reply.status).toBe(400);
    expect(reply.json.error?.code).toBe('body_already_parsed');
    expect(reply.json.error?.message).toContain("express.raw({ type: 'application/json' })");
    expect(handled).toEqual([]);
  });

  it('reads the stream when a parser left an empty object without consuming it (Express 4 style)', async () => {
    const { webhooks, handled } = recordingWebhooks();
    const app = express();
    app.use((req, _res, next) => {
      req.body ??= {};
      next();
    });
    app.post('/webhooks', createExpressMiddleware(webhooks));
    const url = await listen(app);
    const request = await generateTestHeaders('agent.created', SECRET, { id: 'evt_e4' });
    expect((await send(`${url}/webhooks`, request.body, request.headers)).status).toBe(200);
    expect(handled).toEqual(['evt_e4']);
  });

  it('works after express.raw({ type: "application/json" })', async () => {
    const { webhooks, handled } = recordingWebhooks();
    const app = express();
    app.post(
      '/webhooks',
      express.raw({ type: 'application/json' }),
      createExpressMiddleware(webhooks),
    );
    const url = await listen(app);
    const request = await generateTestHeaders('agent.created', SECRET, { id: 'evt_raw' });
    expect((await send(`${url}/webhooks`, request.body, request.headers)).status).toBe(200);
    expect(handled).toEqual(['evt_raw']);
  });
});
