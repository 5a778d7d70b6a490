/**
 * Request logging: nothing per request at `info` (the ingest hot path writes no log line), one
 * line per request at `debug` with method, path, status and time, and never the key.
 */
import { Writable } from 'node:stream';
import { eventSamples } from '@agentfactory/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { client } from './helpers/client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function logsOf(level: string): Promise<{ lines: Record<string, unknown>[]; key: string }> {
  let text = '';
  const capture = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  server = await startTestServer({ AF_LOG_LEVEL: level }, { logStream: capture });
  const api = client(server.url, server.apiKey);
  const before = text.length;
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', '/v1/events', {
      event: 'agent.created',
      data: eventSamples['agent.created'],
    });
    expect(r.status).toBe(202);
  }
  expect((await api('GET', '/v1/webhooks/wh_nope')).status).toBe(404);
  const lines = text
    .slice(before)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, key: server.apiKey };
}

describe('request logging', () => {
  it('writes no line per request at info', async () => {
    const { lines } = await logsOf('info');
    expect(lines.filter((l) => l.req !== undefined || l.url !== undefined)).toEqual([]);
  });

  it('writes one line per request at debug: method, path, status, time; never the key', async () => {
    const { lines, key } = await logsOf('debug');
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(4);
    expect(requests[0]).toMatchObject({ method: 'POST', url: '/v1/events', statusCode: 202 });
    expect(typeof requests[0]!.responseTime).toBe('number');
    expect(requests[3]).toMatchObject({
      method: 'GET',
      url: '/v1/webhooks/wh_nope',
      statusCode: 404,
    });
    expect(JSON.stringify(lines)).not.toContain(key);
  });
});
