/**
 * `listen` end to end: the real service, the real CLI (in process, and once as its own process
 * that is SIGKILLed), and a real receiver on loopback. A forwarded delivery verifies with the
 * secret `listen` printed, by the SDK and by the `standardwebhooks` library; a local 500 is
 * retried; what was posted while the CLI was dead waits (no worker takes it) and arrives when it
 * starts again; the same on PostgreSQL with api and worker processes apart.
 */
import { connect } from 'node:net';
import { eventSamples, verifySignature, verifyStandardWebhook } from '@agentfactory/webhooks';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WsClient from 'ws';
import { type RunningListen, startListen } from '../src/cli/listen.js';
import type { Io } from '../src/cli/output.js';
import { runCli, signal } from './helpers/cli-process.js';
import { client, eventually } from './helpers/client.js';
import { createAccountKey, createCluster, createWebhooks } from './helpers/cluster.js';
import { describePostgres } from './helpers/postgres.js';
import { type Received, type Receiver, startReceiver } from './helpers/receiver.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// biome-ignore lint/suspicious/noExplicitAny: test code reads whatever JSON the API answered.
type Json = any;

function lines(): Io & { text(): string } {
  const out: string[] = [];
  return {
    out: (l) => out.push(l),
    err: (l) => out.push(l),
    text: () => out.join('\n'),
  };
}

const running: RunningListen[] = [];
function listenTo(
  url: string,
  apiKey: string,
  forwardTo: string,
  session: string,
  io: Io,
  events = ['*'],
): RunningListen {
  const r = startListen({ url, apiKey, forwardTo, events, session }, io);
  running.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function verifiesWith(secret: string, req: Received): Promise<void> {
  const headers = req.headers as Record<string, string>;
  expect(await verifySignature(req.body, headers['x-agentfactory-signature'], secret)).toBe(true);
  await verifyStandardWebhook(req.body, headers, secret);
  // The reference library of Standard Webhooks, on the same bytes and headers.
  const payload = new Webhook(secret).verify(req.body, {
    'webhook-id': headers['webhook-id']!,
    'webhook-timestamp': headers['webhook-timestamp']!,
    'webhook-signature': headers['webhook-signature']!,
  }) as { event: string };
  expect(payload.event).toBe(headers['x-agentfactory-event']);
}

describe('listen on SQLite', () => {
  let server: TestServer;
  let receiver: Receiver;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    server = await startTestServer();
    receiver = await startReceiver();
    api = client(server.url, server.apiKey);
  });
  afterAll(async () => {
    await receiver?.close();
    await server?.close();
  });

  const post = async (event: keyof typeof eventSamples) => {
    const r = await api('POST', '/v1/events', { event, data: eventSamples[event] });
    expect(r.status, r.text).toBe(202);
    return (r.body as Json).id as string;
  };
  const deliveriesOf = async (eventId: string) =>
    ((await api('GET', `/v1/deliveries?event_id=${eventId}`)).body as Json).data as Json[];

  it('forwards the subscribed events as signed deliveries that verify with the printed secret, in the delivery log', async () => {
    receiver.requests.length = 0;
    receiver.respond = () => ({ status: 200, body: 'thanks' });
    const io = lines();
    const listen = listenTo(server.url, server.apiKey, `${receiver.url}/hooks`, 'sqlite-1', io, [
      'agent.*',
    ]);
    const ready = await listen.ready;
    const secret = ((await api('GET', '/v1/listen/secret')).body as Json).secret as string;
    expect(ready.secret).toBe(secret);
    expect(io.text()).toContain(`Your listen secret is ${secret}`);
    expect(ready.session.id).toMatch(/^lsn_/);

    const skipped = await post('conversation.message');
    const first = await post('agent.created');
    const [req] = await receiver.waitFor(1);
    expect(req!.url).toBe('/hooks');
    expect(req!.headers['x-agentfactory-event-id']).toBe(first);
    await verifiesWith(secret, req!);

    const delivered = await eventually(async () => {
      const [d] = await deliveriesOf(first);
      return d?.status === 'succeeded' ? d : undefined;
    });
    expect(delivered.webhook_id).toBe(ready.session.id);
    const detail = (await api('GET', `/v1/deliveries/${delivered.id}`)).body as Json;
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0].status_code).toBe(200);
    expect(detail.attempts[0].response_body).toBe('thanks');
    expect(await deliveriesOf(skipped)).toEqual([]);
    await eventually(async () => (io.text().includes(`${first}  → 200`) ? true : undefined));

    const sessions = ((await api('GET', '/v1/listen/sessions')).body as Json).data as Json[];
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({
      id: ready.session.id,
      name: 'sqlite-1',
      forward_to: `${receiver.url}/hooks`,
      events: ['agent.*'],
      connected: true,
      last_delivery_status: 'succeeded',
    });
    // A session is not a webhook of the webhooks API.
    expect((await api('GET', `/v1/webhooks/${ready.session.id}`)).status).toBe(404);
    expect(((await api('GET', '/v1/webhooks')).body as Json).data).toEqual([]);

    await listen.close();
    const after = ((await api('GET', '/v1/listen/sessions')).body as Json).data as Json[];
    expect(after[0].connected).toBe(false);
  });

  it('retries a local 500 on the schedule, and records both attempts', async () => {
    receiver.requests.length = 0;
    let calls = 0;
    receiver.respond = () => (++calls === 1 ? { status: 500, body: 'boom' } : { status: 204 });
    const io = lines();
    const listen = listenTo(server.url, server.apiKey, receiver.url, 'sqlite-retry', io);
    await listen.ready;
    const id = await post('agent.updated');
    const reqs = await receiver.waitFor(2);
    expect(reqs.map((r) => r.headers['x-agentfactory-attempt'])).toEqual(['1', '2']);
    const d = await eventually(async () => {
      const [row] = await deliveriesOf(id);
      return row?.status === 'succeeded' ? row : undefined;
    });
    const detail = (await api('GET', `/v1/deliveries/${d.id}`)).body as Json;
    expect(detail.attempts.map((a: Json) => a.status_code)).toEqual([500, 204]);
    expect(detail.attempts[0].error).toBe('response_status');
    expect(io.text()).toMatch(new RegExp(`${id}  → 500`));
  });

  it('records a local server that is down as connection_refused, and retries it', async () => {
    const down = await startReceiver();
    const url = down.url;
    await down.close();
    const listen = listenTo(server.url, server.apiKey, url, 'sqlite-down', lines());
    await listen.ready;
    const id = await post('agent.deleted');
    const d = await eventually(async () => {
      const [row] = await deliveriesOf(id);
      return row?.attempt_count >= 2 ? row : undefined;
    });
    const detail = (await api('GET', `/v1/deliveries/${d.id}`)).body as Json;
    expect(detail.attempts[0].error).toBe('connection_refused');
    expect(detail.attempts[0].status_code).toBeNull();
  });

  it('the CLI killed and started again receives what waited; no worker sends it meanwhile', async () => {
    receiver.requests.length = 0;
    receiver.respond = () => ({ status: 200 });
    const env = { AF_DATA_DIR: server.dataDir };
    const args = [
      'listen',
      '--forward-to',
      `${receiver.url}/cli`,
      '--session',
      'killed',
      '--url',
      server.url,
      '--api-key',
      server.apiKey,
    ];
    const printed = runCli(
      ['listen', '--print-secret', '--url', server.url, '--api-key', server.apiKey],
      env,
    );
    expect(await printed.exited).toBe(0);
    const secret = printed.stdout().trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);

    const first = runCli(args, env);
    await first.waitForOutput(/Ready: forwarding/);
    expect(first.stdout()).toContain(`Your listen secret is ${secret}`);
    signal(first, 'SIGKILL');
    await first.exited;
    const sessionId = await eventually(async () => {
      const s = (((await api('GET', '/v1/listen/sessions')).body as Json).data as Json[]).find(
        (x) => x.name === 'killed',
      );
      return s && !s.connected ? (s.id as string) : undefined;
    });

    const waited = await post('conversation.started');
    await new Promise((r) => setTimeout(r, 1500));
    // The earlier tests' sessions (disconnected, subscribed to `*`) get a delivery of it too.
    const pending = (await deliveriesOf(waited)).find((d) => d.webhook_id === sessionId);
    expect(pending).toMatchObject({ status: 'pending', attempt_count: 0 });
    expect(receiver.requests).toHaveLength(0);

    const second = runCli(args, env);
    try {
      await second.waitForOutput(/Ready: forwarding/);
      const [req] = await receiver.waitFor(1);
      expect(req!.headers['x-agentfactory-event-id']).toBe(waited);
      await verifiesWith(secret, req!);
      await second.waitForOutput(new RegExp(`${waited}  → 200`));
    } finally {
      signal(second, 'SIGINT');
      expect(await second.exited).toBe(0);
    }
  });

  it('a second listen with the same session takes it over; the first stops', async () => {
    const a = lines();
    const first = listenTo(server.url, server.apiKey, receiver.url, 'taken', a);
    await first.ready;
    const second = listenTo(server.url, server.apiKey, receiver.url, 'taken', lines());
    await second.ready;
    expect(await first.ended).toBe(1);
    expect(a.text()).toMatch(/listen stopped: another listen opened this session/);
  });

  it('deleting a session closes its listen and fails what waited for it', async () => {
    const io = lines();
    const listen = listenTo(server.url, server.apiKey, receiver.url, 'deleted', io);
    const ready = await listen.ready;
    // Another account neither sees nor deletes it.
    const created = await client(server.url, server.adminKey)('POST', '/v1/accounts', {
      name: 'other',
    });
    const stranger = client(server.url, (created.body as Json).api_key as string);
    expect(((await stranger('GET', '/v1/listen/sessions')).body as Json).data).toEqual([]);
    expect((await stranger('DELETE', `/v1/listen/sessions/${ready.session.id}`)).status).toBe(404);
    expect((await api('DELETE', `/v1/listen/sessions/${ready.session.id}`)).status).toBe(204);
    expect(await listen.ended).toBe(1);
    expect((await api('DELETE', `/v1/listen/sessions/${ready.session.id}`)).status).toBe(404);
    const other = client(server.url, server.adminKey);
    expect((await other('GET', '/v1/listen/sessions')).status).toBe(403);
  });

  it('survives a hostile client: junk closes it and releases the delivery, silence is a timeout', async () => {
    const url = `${server.url.replace('http', 'ws')}/v1/listen/connect?name=hostile&forward_to=${encodeURIComponent('http://127.0.0.1:9/x')}&events=usage.*`;
    const open = async () => {
      const ws = new WsClient(url, { headers: { authorization: `Bearer ${server.apiKey}` } });
      const frames: Json[] = [];
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('message', (data) => frames.push(JSON.parse(String(data))));
      await new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
      });
      const next = (type: string, timeoutMs = 15_000) =>
        eventually(
          async () => frames.find((f) => f.type === type && !f.seen),
          timeoutMs,
          type,
        ).then((f) => {
          f.seen = true;
          return f;
        });
      return { ws, closed, next };
    };
    const postUsage = async () => {
      const r = await api('POST', '/v1/events', {
        event: 'usage.threshold',
        data: eventSamples['usage.threshold'],
      });
      return (r.body as Json).id as string;
    };

    // A result the service cannot read: closed with 1008, the delivery released unattempted.
    const a = await open();
    await a.next('ready');
    const id = await postUsage();
    const frame = await a.next('delivery');
    expect(frame.event_id).toBe(id);
    a.ws.send(
      JSON.stringify({ type: 'result', delivery_id: frame.delivery_id, status_code: 'ok' }),
    );
    expect(await a.closed).toBe(1008);
    const released = (await api('GET', `/v1/deliveries/${frame.delivery_id}`)).body as Json;
    expect(released).toMatchObject({ status: 'pending', attempt_count: 0 });

    // Reconnected: the same delivery again, well within its 15 s lease, so the close released it.
    // A result for a delivery it was not sent is ignored;
    // saying nothing is a timeout after AF_DELIVERY_TIMEOUT (2 s here) and 5 s of grace.
    const b = await open();
    await b.next('ready');
    const again = await b.next('delivery', 5_000);
    expect(again.delivery_id).toBe(frame.delivery_id);
    b.ws.send(
      JSON.stringify({
        type: 'result',
        delivery_id: 'dlv_someone_else',
        status_code: 200,
        error: null,
        duration_ms: 1,
        response_headers: {},
        response_body: null,
        response_body_encoding: null,
      }),
    );
    const timedOut = await eventually(async () => {
      const d = (await api('GET', `/v1/deliveries/${frame.delivery_id}`)).body as Json;
      return d.attempts.length === 1 ? d : undefined;
    }, 15_000);
    expect(timedOut.attempts[0]).toMatchObject({ error: 'timeout', status_code: null });
    expect(b.ws.readyState).toBe(WsClient.OPEN);

    // A frame past 64 KiB is refused by the socket itself.
    b.ws.send('x'.repeat(70 * 1024));
    expect(await b.closed).toBe(1009);
  }, 40_000);

  it('refuses a bad key or query with an HTTP answer before the upgrade', async () => {
    const upgrade = (query: string, key: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WsClient(`${server.url.replace('http', 'ws')}/v1/listen/connect?${query}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', reject);
      });
    const good = `name=probe&forward_to=${encodeURIComponent('http://127.0.0.1:1/x')}`;
    expect(await upgrade(good, server.apiKey)).toBe(101);
    expect(await upgrade(good, 'afk_not_a_key')).toBe(401);
    expect(await upgrade(good, server.adminKey)).toBe(403);
    expect(await upgrade('name=probe&forward_to=ftp://nope', server.apiKey)).toBe(400);
    expect(await upgrade(`${good}&events=nope.nope`, server.apiKey)).toBe(400);
    expect(await upgrade('forward_to=http://a', server.apiKey)).toBe(400);

    // A refused upgrade's socket is closed by the service after its answer (not left open).
    const raw = connect(new URL(server.url).port as unknown as number, '127.0.0.1');
    let answer = '';
    raw.on('data', (b) => {
      answer += b.toString();
    });
    const ended = new Promise<void>((resolve) => raw.on('end', () => resolve()));
    raw.write(
      'GET /v1/listen/connect?name=x&forward_to=http://a HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer afk_nope\r\n\r\n',
    );
    await Promise.race([
      ended,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`not closed: ${answer}`)), 3000),
      ),
    ]);
    raw.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
  });
});

await describePostgres('listen on PostgreSQL, api and worker processes apart', (ctx) => {
  let cluster: Awaited<ReturnType<typeof createCluster>>;
  let receiver: Receiver;
  beforeAll(async () => {
    cluster = await createCluster(ctx.url);
    receiver = await startReceiver();
  }, 120_000);
  afterAll(async () => {
    await receiver?.close();
    await cluster?.close();
  });

  it('forwards through the api process, retries, and delivers what waited after the CLI was killed; the worker sends only the webhook', async () => {
    const [apiProc, worker] = await cluster.startMany([{ role: 'api' }, { role: 'worker' }]);
    const key = await createAccountKey(apiProc!.url);
    const api = client(apiProc!.url, key);
    await createWebhooks(apiProc!.url, key, [`${receiver.url}/webhook`], ['agent.*']);
    let calls = 0;
    receiver.respond = (req) =>
      req.url === '/local' && ++calls === 1 ? { status: 500 } : { status: 200 };

    const io = lines();
    const listen = listenTo(apiProc!.url, key, `${receiver.url}/local`, 'pg', io, ['agent.*']);
    const ready = await listen.ready;
    const post = async () => {
      const r = await api('POST', '/v1/events', {
        event: 'agent.created',
        data: eventSamples['agent.created'],
      });
      expect(r.status, r.text).toBe(202);
      return (r.body as Json).id as string;
    };
    const first = await post();
    await eventually(async () => {
      const local = receiver.requests.filter((r) => r.url === '/local');
      const hook = receiver.requests.filter((r) => r.url === '/webhook');
      return local.length >= 2 && hook.length >= 1 ? true : undefined;
    }, 20_000);
    const local = receiver.requests.filter((r) => r.url === '/local');
    expect(local.map((r) => r.headers['x-agentfactory-attempt'])).toEqual(['1', '2']);
    for (const r of local) await verifiesWith(ready.secret, r);
    const byHook = ((await api('GET', `/v1/deliveries?event_id=${first}`)).body as Json)
      .data as Json[];
    expect(byHook.map((d) => d.status).sort()).toEqual(['succeeded', 'succeeded']);

    await listen.close();

    // The real CLI on the same session, SIGKILLed: what is posted meanwhile waits (the worker
    // sends only the webhook's copy) and arrives when the CLI starts again.
    const args = ['listen', '--forward-to', `${receiver.url}/local`, '--session', 'pg'];
    const env = { AF_API_KEY: key };
    const cli = runCli([...args, '--url', apiProc!.url, '--events', 'agent.*'], env);
    await cli.waitForOutput(/Ready: forwarding agent\.\* to/);
    expect(cli.stdout()).toContain(ready.session.id);
    signal(cli, 'SIGKILL');
    await cli.exited;
    await eventually(async () => {
      const [s] = ((await api('GET', '/v1/listen/sessions')).body as Json).data as Json[];
      return s?.connected === false ? true : undefined;
    });
    const waited = await post();
    await eventually(
      async () =>
        receiver.requests.some(
          (r) => r.url === '/webhook' && r.headers['x-agentfactory-event-id'] === waited,
        )
          ? true
          : undefined,
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const forWaited = ((await api('GET', `/v1/deliveries?event_id=${waited}`)).body as Json)
      .data as Json[];
    expect(forWaited.find((d) => d.webhook_id === ready.session.id)).toMatchObject({
      status: 'pending',
      attempt_count: 0,
    });

    const again = runCli([...args, '--url', apiProc!.url, '--events', 'agent.*'], env);
    try {
      await again.waitForOutput(new RegExp(`${waited}  → 200`), 20_000);
      const [req] = receiver.requests.filter(
        (r) => r.url === '/local' && r.headers['x-agentfactory-event-id'] === waited,
      );
      await verifiesWith(ready.secret, req!);
    } finally {
      signal(again, 'SIGINT');
      expect(await again.exited).toBe(0);
    }
    expect(worker!.alive()).toBe(true);
  }, 120_000);
});
