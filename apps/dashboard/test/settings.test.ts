/**
 * Settings → API keys and Settings → Audit log in a real browser against a real service (the
 * in-process server on a temp SQLite dir): a key created and shown once, then used over HTTP;
 * scopes that refuse; revoke behind a confirmation, refused at once; the audit log with its
 * filters. Elements are found by role and label, as a person would.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../../server/test/helpers/server.js';
import {
  browserTestsRun,
  ensureDashboardBuilt,
  launchBrowser,
  openPage,
  overflowing,
  signIn,
  type TestPage,
  takeExpectedStatus,
} from './browser.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

let browser: Browser;
let server: TestServer;
let open: TestPage | undefined;
const runs = browserTestsRun();

beforeAll(async () => {
  if (!runs) return;
  ensureDashboardBuilt();
  browser = await launchBrowser();
}, 90_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await open?.context.close();
  open = undefined;
  await server?.close();
});

async function get(path: string, key: string): Promise<number> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return res.status;
}

const flowTimeout = 60_000;

describe.runIf(runs)('dashboard settings', () => {
  it(
    'API keys: creates a read-only key shown once, lists it, revokes it after a confirmation',
    async () => {
      server = await startTestServer();
      open = await openPage(browser);
      const { page, errors } = open;
      await signIn(page, server.url, server.apiKey);

      await page.getByRole('link', { name: 'API keys' }).click();
      await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
      const table = page.getByRole('table');
      // The account's first key, which this session uses.
      await table.getByText('(this session)').waitFor();

      // A key without a name or a scope is not sent.
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByRole('alert').getByText('Give the key a name.').waitFor();

      await page.getByLabel('Name').fill('Reporting');
      await page.getByLabel(/Full access/).uncheck();
      await page.getByLabel(/Read only/).check();
      await page.getByLabel('Expires').selectOption({ label: 'In 30 days' });
      await page.getByRole('button', { name: 'Create key' }).click();
      const shown = page.getByTestId('created-api-key');
      await shown.waitFor();
      const key = (await shown.textContent()) ?? '';
      expect(key).toMatch(/^afk_/);
      await page.getByText('it is not shown again').waitFor();

      // Listed with its prefix, scopes and expiry; the key itself only in the notice.
      const row = table.getByRole('row').filter({ hasText: 'Reporting' });
      await row.getByText(`${key.slice(0, 12)}…`).waitFor();
      await row.getByText('read', { exact: true }).waitFor();
      await row.getByText('in 30 days').waitFor();
      await page.getByRole('button', { name: 'I have copied it' }).click();
      expect(await shown.count()).toBe(0);
      expect(await page.content()).not.toContain(key);

      // It reads, and may not change anything.
      expect(await get('/v1/webhooks', key)).toBe(200);
      const refused = await fetch(`${server.url}/v1/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(refused.status).toBe(403);
      expect((await refused.json()).error.code).toBe('insufficient_scope');

      // Revoke asks first; Cancel keeps the key.
      await row.getByRole('button', { name: 'Revoke API key Reporting' }).click();
      const dialog = page.getByRole('dialog', { name: 'Revoke API key “Reporting”?' });
      await dialog.waitFor();
      expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Cancel');
      // The browser fires the dialog's `close` event in a task of its own after it closes; a busy
      // page may run it late. Held back here until after Revoke is pressed again: the dialog
      // that opens again must open, and stay open when the late event comes.
      await page.evaluate(() => {
        const w = window as Window & { lateClose?: 'held' | 'fired' };
        w.lateClose = 'held';
        window.addEventListener(
          'close',
          (event) => {
            event.stopImmediatePropagation();
            setTimeout(() => {
              event.target?.dispatchEvent(new Event('close'));
              w.lateClose = 'fired';
            }, 300);
          },
          { capture: true, once: true },
        );
      });
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect(await get('/v1/webhooks', key)).toBe(200);

      await row.getByRole('button', { name: 'Revoke API key Reporting' }).click();
      await dialog.waitFor();
      await page.waitForFunction(
        () => (window as Window & { lateClose?: string }).lateClose === 'fired',
      );
      // Two frames: a close the late event caused would have run its effect by then.
      await page.evaluate(
        () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))),
      );
      expect(await dialog.isVisible()).toBe(true);
      await dialog.getByRole('button', { name: 'Revoke key' }).click();
      await dialog.waitFor({ state: 'hidden' });
      await row.waitFor({ state: 'detached' });
      expect(await get('/v1/webhooks', key)).toBe(401);

      // A phone's width: nothing sticks out sideways.
      await page.setViewportSize({ width: 375, height: 800 });
      expect(await overflowing(page)).toEqual([]);
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'an ingest key cannot sign in; a read-only session sees the keys but is told why it cannot create one; revoking its own key signs out',
    async () => {
      server = await startTestServer();
      const made = await fetch(`${server.url}/v1/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'viewer', scopes: ['read'] }),
      });
      const viewer = (await made.json()).api_key as string;
      const ingest = await fetch(`${server.url}/v1/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ingest', scopes: ['events:write'] }),
      });
      open = await openPage(browser);
      const { page, errors } = open;
      // A key that may only post events cannot sign in, and is told why.
      await page.goto(server.url);
      await page.getByLabel('API key').fill((await ingest.json()).api_key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').getByText('This key may only post events').waitFor();
      expect(takeExpectedStatus(errors, 403)).toBe(true);
      await signIn(page, server.url, viewer);
      await page.getByRole('link', { name: 'API keys' }).click();
      await page.getByRole('table').getByText('(this session)').waitFor();
      await page.getByLabel('Name').fill('More');
      await page.getByRole('button', { name: 'Create key' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText('it needs the scope "full"').waitFor();
      await alert.getByText("This API key's scopes do not allow this.").waitFor();
      expect(takeExpectedStatus(errors, 403)).toBe(true);

      // Its own key, with a full one: sign in with the full key, revoke the session's own.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn(page, server.url, server.apiKey);
      await page.getByRole('link', { name: 'API keys' }).click();
      const own = page.getByRole('row').filter({ hasText: '(this session)' });
      const name = (await own.locator('.strong').textContent()) ?? '';
      await own.getByRole('button', { name: `Revoke API key ${name}` }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('It is the key you are signed in with').waitFor();
      await dialog.getByRole('button', { name: 'Revoke key' }).click();
      await page.getByText('Your API key is no longer accepted').waitFor();
      await page.getByLabel('API key').waitFor();
      expect(takeExpectedStatus(errors, 401)).toBe(true);
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'Audit log: shows each change with its key and what changed, filters by action and resource',
    async () => {
      server = await startTestServer();
      const call = (method: string, path: string, body?: unknown) =>
        fetch(`${server.url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${server.apiKey}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        }).then(async (r) => (r.status === 204 ? undefined : r.json()));
      const hook = await call('POST', '/v1/webhooks', {
        name: 'Orders',
        url: 'http://127.0.0.1:9/orders',
        events: ['agent.created'],
        headers: { Authorization: 'Bearer very-secret-header' },
      });
      await call('PATCH', `/v1/webhooks/${hook.id}`, { name: 'Orders v2' });
      await call('PATCH', `/v1/webhooks/${hook.id}`, { active: false });
      const rotated = await call('POST', `/v1/webhooks/${hook.id}/secret/rotate`, {});
      const other = await call('POST', '/v1/webhooks', {
        name: 'Other',
        url: 'http://127.0.0.1:9/other',
        events: ['*'],
      });
      const keys = await call('GET', '/v1/api-keys');
      const keyId = keys.data[0].id as string;

      open = await openPage(browser);
      const { page, errors } = open;
      await signIn(page, server.url, server.apiKey);
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
      const rows = page.getByRole('table').getByRole('row');
      await rows.filter({ hasText: 'Webhook created' }).first().waitFor();
      // Header row + 5 changes.
      expect(await rows.count()).toBe(6);
      const renamed = rows.filter({ hasText: 'Webhook changed' });
      await renamed.getByText('Orders → Orders v2').waitFor();
      await renamed.getByText(keyId).waitFor();
      await rows.filter({ hasText: 'Webhook disabled' }).getByText('true → false').waitFor();
      await rows.filter({ hasText: 'Signing secret rotated' }).waitFor();
      const content = await page.content();
      expect(content).not.toContain(rotated.secret);
      expect(content).not.toContain(hook.secret);
      expect(content).not.toContain('very-secret-header');

      await page.getByLabel('Action').selectOption({ label: 'Webhook created' });
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await rows.filter({ hasText: 'Webhook changed' }).waitFor({ state: 'detached' });
      expect(await rows.count()).toBe(3);

      await page.getByLabel('Action').selectOption({ label: 'All actions' });
      await page.getByLabel('Resource ID').fill(other.id);
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await eventuallyCount(rows, 2);
      await rows.filter({ hasText: other.id }).waitFor();

      await page.getByLabel('Resource ID').fill('');
      await page.getByLabel('From').fill('2099-01-01T00:00');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('No changes recorded that match.').waitFor();
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );
});

async function eventuallyCount(
  locator: { count(): Promise<number> },
  n: number,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await locator.count()) !== n) {
    if (Date.now() > deadline) throw new Error(`expected ${n}, got ${await locator.count()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
