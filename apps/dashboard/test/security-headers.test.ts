/**
 * The service's security headers (`apps/server/src/api/security-headers.ts`) on the dashboard,
 * the API and the API reference, and the dashboard working under its Content-Security-Policy in
 * a real browser: sign in, the webhook pages, the Tester's schema check (compiled at build time,
 * no `eval`) and a test send, with no CSP violation reported by the page or logged on the
 * console; and `/docs` rendering under the same policy.
 */
import { eventSamples } from '@agentfactory/webhooks';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../../server/test/helpers/server.js';
import {
  browserTestsRun,
  ensureDashboardBuilt,
  launchBrowser,
  openPage,
  type Receiver,
  signIn,
  startReceiver,
} from './browser.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const runs = browserTestsRun();
let browser: Browser;
let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  if (!runs) return;
  ensureDashboardBuilt();
  browser = await launchBrowser();
  server = await startTestServer();
  receiver = await startReceiver();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await server?.close();
});

function expectSecurityHeaders(headers: Headers, what: string): void {
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp, what).toContain("default-src 'self'");
  expect(csp, what).toContain("script-src 'self'");
  expect(csp, what).toContain("style-src 'self'");
  expect(csp, what).toContain("frame-ancestors 'none'");
  expect(csp, what).toContain("object-src 'none'");
  expect(csp, what).not.toContain('unsafe-inline');
  expect(csp, what).not.toContain('unsafe-eval');
  expect(headers.get('x-content-type-options'), what).toBe('nosniff');
  expect(headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(headers.get('x-frame-options'), what).toBe('DENY');
  // Development on plain http: no HSTS (production sets it).
  expect(headers.get('strict-transport-security'), what).toBeNull();
}

describe.runIf(runs)('security headers', () => {
  it('are on the dashboard, the API (answers and errors) and the API reference', async () => {
    const auth = { authorization: `Bearer ${server.apiKey}` };
    const pages: [string, RequestInit | undefined, number][] = [
      ['/', undefined, 200],
      ['/webhooks', undefined, 200],
      ['/v1/webhooks', { headers: auth }, 200],
      ['/v1/webhooks', undefined, 401],
      ['/v1/no-such-route', { headers: auth }, 404],
      ['/docs/', undefined, 200],
      ['/openapi.json', undefined, 200],
      ['/healthz', undefined, 200],
    ];
    for (const [path, init, status] of pages) {
      const response = await fetch(`${server.url}${path}`, init);
      await response.arrayBuffer();
      expect(response.status, path).toBe(status);
      expectSecurityHeaders(response.headers, path);
    }
  });

  it('the dashboard and the API reference work under the CSP, with no violation', async () => {
    const { context, page, errors } = await openPage(browser);
    // Every violation the page sees, whatever logs it.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => {
        seen.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const violations = async () =>
      page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    try {
      const created = await fetch(`${server.url}/v1/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'CSP target', url: receiver.url, events: ['*'] }),
      });
      expect(created.status).toBe(201);

      await signIn(page, server.url, server.apiKey);
      expect(await violations()).toEqual([]);
      // The stylesheet applied: the page is not unstyled.
      const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
      expect(font).not.toBe('');
      await page.getByRole('link', { name: 'CSP target' }).click();
      await page.getByRole('heading', { level: 1, name: 'CSP target' }).waitFor();
      expect(await violations()).toEqual([]);

      // The Tester: the schema check runs (validators compiled at build time), then a send.
      await page.getByRole('link', { name: 'Open the Tester' }).click();
      await page.getByRole('heading', { level: 1, name: 'Tester' }).waitFor();
      const form = page.getByRole('region', { name: 'Send a test event' });
      await form.getByLabel('Event', { exact: true }).selectOption('conversation.message');
      const editor = form.getByLabel('Event data (JSON)');
      const sample = eventSamples['conversation.message'];
      await editor.fill(JSON.stringify({ ...sample, agent_id: 42 }, null, 2));
      const problems = form.getByTestId('data-problems');
      await problems.getByText('/data/agent_id').waitFor();
      await problems.getByText('must be string').waitFor();
      await editor.fill(JSON.stringify(sample, null, 2));
      await form.getByText("Valid for this event's schema.").waitFor();
      await form.getByRole('button', { name: 'Send', exact: true }).click();
      await form.getByText(/^Delivered: HTTP 200/).waitFor();
      expect(await violations()).toEqual([]);
      expect(errors.filter((e) => /Content Security Policy|Refused to/i.test(e))).toEqual([]);
      expect(errors).toEqual([]);

      // The API reference (the Swagger UI plugin's page) under the same policy: it renders and
      // runs no script the policy refuses. Swagger UI tries to add one inline <style> element,
      // which is refused and changes nothing visible (docs/security.md); nothing else is.
      await page.goto(`${server.url}/docs/`);
      await page.getByText('Agent Factory Webhooks API').first().waitFor();
      await page.getByText('/v1/webhooks').first().waitFor();
      for (const v of await violations()) expect(v).toBe('style-src-elem inline');
    } finally {
      await context.close();
    }
  }, 60_000);
});
