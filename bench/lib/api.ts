/** The few API calls a benchmark makes, through the public HTTP API only. */
import { Pool } from 'undici';

export class Api {
  private readonly pool: Pool;
  constructor(
    readonly url: string,
    private readonly key: string,
  ) {
    this.pool = new Pool(url, { connections: 16, pipelining: 1 });
  }

  async call<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    for (;;) {
      const res = await this.pool.request({
        method,
        path,
        headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      // The management API's default limit (AF_RATE_LIMIT, 100/s per key): the scenarios that
      // read the delivery log one delivery at a time wait as a client should, then go on.
      const retryAfter = Number(res.headers['retry-after']);
      if (res.statusCode === 429 && retryAfter > 0) {
        await new Promise((r) => setTimeout(r, retryAfter * 1000));
        continue;
      }
      if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode}: ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    }
  }

  as(key: string): Api {
    return new Api(this.url, key);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Creates an account and `n` webhooks on the given receivers; answers the account's API. */
export async function setupAccount(admin: Api, receiverUrls: string[]): Promise<Api> {
  const account = await admin.call<{ id: string; api_key: string }>('POST', '/v1/accounts', {
    name: `bench ${Date.now()}`,
  });
  const api = admin.as(account.api_key);
  for (const [i, url] of receiverUrls.entries()) {
    await api.call('POST', '/v1/webhooks', { name: `bench ${i}`, url, events: ['*'] });
  }
  return api;
}
