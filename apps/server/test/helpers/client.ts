/** A tiny JSON client for tests: `call('POST', '/v1/webhooks', body)` → status, JSON, headers. */
import type { Received, Receiver } from './receiver.js';
export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read loosely.
  body: any;
  text: string;
  headers: Headers;
}

export type Call = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<Answer>;

export function client(baseUrl: string, apiKey?: string): Call {
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: json, text, headers: res.headers };
  };
}

/** Polls `check` every 50 ms until it returns a value other than undefined, at most `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface CannedReply {
  status?: number;
  body?: string;
  delayMs?: number;
}

/** Makes the receiver answer each request with `reply(request)` (status, body, delay). */
export function respond(receiver: Receiver, reply: (req: Received) => CannedReply): void {
  receiver.setHandler((req, res) => {
    const r = reply(req);
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(r.status ?? 200, { 'content-type': 'text/plain' });
      res.end(r.body ?? 'ok');
    };
    if (r.delayMs) setTimeout(send, r.delayMs);
    else send();
  });
}
