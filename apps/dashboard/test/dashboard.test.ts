/**
 * The dashboard in a real browser against a real service: Debian's Chromium driven through
 * playwright-core, the in-process server on a temp SQLite dir, a receiver on loopback.
 * Elements are found by role and label, as a person would. `UPDATE_SCREENSHOTS=1` also writes
 * the README's screenshots; a normal run writes no tracked file.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventSamples, generateTestHeaders } from '@agentfactory/webhooks';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningListen, startListen } from '../../server/src/cli/listen.js';
import { startTestServer } from '../../server/test/helpers/server.js';
import {
  browserTestsRun,
  ensureDashboardBuilt,
  eventually,
  launchBrowser,
  openPage,
  overflowing,
  type Receiver,
  signIn,
  startReceiver,
  type TestPage,
  tabTo,
  takeExpectedStatus,
} from './browser.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const screenshotDir = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';

// One retry 200 ms after the first attempt: a failing delivery is `failed` within a second.
const env = { AF_RETRY_BASE_DELAY: '200ms', AF_MAX_RETRIES: '1', AF_RETRY_JITTER: '0' };

let browser: Browser;
let server: TestServer;
let receiver: Receiver;
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

async function setUp(viewport?: { width: number; height: number }): Promise<TestPage> {
  server = await startTestServer(env);
  receiver = await startReceiver();
  open = await openPage(browser, viewport);
  return open;
}

afterEach(async () => {
  await open?.context.close();
  open = undefined;
  await receiver?.close();
  await server?.close();
});

function signatures(header: string | string[] | undefined): string[] {
  return String(header ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^sha256=/, ''));
}

function hmacHex(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

async function postEvent(event: string, data: unknown): Promise<void> {
  const response = await fetch(`${server.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event, data }),
  });
  expect(response.status).toBe(202);
}

// A whole flow takes a few seconds alone; the full suite shares two cores with it.
const flowTimeout = 60_000;

describe.runIf(runs)('dashboard', () => {
  it(
    'signs in, creates a webhook, tests it, retries a failure to success, rotates the secret and deletes it',
    async () => {
      const { page, errors } = await setUp();

      // A wrong key gets a clear message; the right one opens Settings → Integrations → Webhooks.
      await page.goto(server.url);
      await page.getByLabel('API key').fill('afk_not_a_real_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').getByText('That API key was not accepted').waitFor();
      expect(takeExpectedStatus(errors, 401)).toBe(true);
      await page.getByLabel('API key').fill(server.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      await page.getByText('No webhooks yet.').waitFor();

      // Create Webhook: name, URL, events by group, generated secret.
      await page.getByRole('link', { name: 'Create Webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Create Webhook' }).waitFor();
      await page.getByLabel('Name', { exact: true }).fill('Support bot events');
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('Select all agent events').check();
      await page.getByLabel('conversation.ended').check();
      expect(await page.getByLabel('agent.deployed').isChecked()).toBe(true);
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();
      const webhookId = (await page.getByTestId('created-webhook-id').textContent()) ?? '';
      const secret = (await page.getByTestId('created-webhook-secret').textContent()) ?? '';
      expect(webhookId).toMatch(/^wh_/);
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole('button', { name: 'Copy secret' }).waitFor();

      // Detail page: send a test event and see its outcome.
      await page.getByRole('link', { name: 'Go to Support bot events' }).click();
      await page.getByRole('heading', { level: 1, name: 'Support bot events' }).waitFor();
      await page.getByRole('button', { name: 'Send test event' }).click();
      await page.getByText('Test delivered: HTTP 200').waitFor();
      expect(receiver.requests).toHaveLength(1);
      const test = receiver.requests[0]!;
      expect(test.headers['x-agentfactory-event']).toBe('webhook.test');
      expect(signatures(test.headers['x-agentfactory-signature'])).toEqual([
        hmacHex(secret, test.body),
      ]);

      // The delivery is in the table; its attempt shows request and response.
      const deliveries = page.getByRole('region', { name: 'Deliveries' });
      await deliveries.getByRole('row', { name: /webhook\.test.*Succeeded/ }).waitFor();
      await deliveries.getByRole('link', { name: 'webhook.test' }).click();
      await page.getByRole('heading', { level: 1, name: 'Delivery webhook.test' }).waitFor();
      await page.getByText('Attempt 1: HTTP 200').waitFor();
      const requestHeaders = page.getByRole('table', { name: 'Request headers' });
      await requestHeaders
        .getByRole('rowheader', { name: 'X-AgentFactory-Event', exact: true })
        .waitFor();
      await page.getByRole('table', { name: 'Response headers' }).waitFor();
      await page.getByText('{"received":true}').waitFor();
      await page
        .getByRole('region', { name: 'Request body' })
        .getByText('"webhook.test"')
        .waitFor();

      // The receiver fails: an event's delivery fails after its retry.
      await page.getByRole('link', { name: 'Back to the webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Support bot events' }).waitFor();
      receiver.mode = 'fail';
      await postEvent('agent.created', eventSamples['agent.created']);
      await postEvent('conversation.ended', eventSamples['conversation.ended']);
      await eventually(() => receiver.requests.length >= 5, 'first attempts and retries');
      await page.getByLabel('Status', { exact: true }).selectOption('failed');
      await page.getByRole('button', { name: 'Refresh deliveries' }).click();
      const failedRow = deliveries.getByRole('row', { name: /agent\.created.*Failed.*HTTP 500/ });
      await failedRow.waitFor();

      // Retry it to success.
      receiver.mode = 'ok';
      await failedRow.getByRole('button', { name: /Retry/ }).click();
      await page.getByLabel('Status', { exact: true }).selectOption('');
      await deliveries.getByRole('row', { name: /agent\.created.*Succeeded.*HTTP 200/ }).waitFor();
      await deliveries.getByRole('link', { name: 'agent.created' }).click();
      await page.getByText('Attempt 3: HTTP 200, ').waitFor();
      await page.getByText('(manual)').waitFor();
      await page.getByText('Attempt 1: HTTP 500').waitFor();
      await page.getByRole('link', { name: 'Back to the webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Support bot events' }).waitFor();
      await page.getByRole('img', { name: /Deliveries per hour/ }).waitFor();

      if (updateScreenshots) {
        mkdirSync(screenshotDir, { recursive: true });
        await page.screenshot({ path: `${screenshotDir}webhook-detail.png`, fullPage: true });
        await page.getByRole('link', { name: 'Webhooks', exact: true }).first().click();
        await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
        await page
          .getByRole('row', { name: /Support bot events/ })
          .getByText('%')
          .waitFor();
        const main = await page.getByRole('main').boundingBox();
        await page.screenshot({
          path: `${screenshotDir}webhooks-list.png`,
          clip: {
            x: 0,
            y: 0,
            width: 1280,
            height: Math.ceil((main?.y ?? 0) + (main?.height ?? 900)),
          },
        });
        await page.getByRole('link', { name: 'Support bot events' }).click();
      }

      // Reveal, then rotate the secret: both signatures during the grace period, newest first.
      await page.getByRole('button', { name: 'Reveal secret' }).click();
      await page.getByTestId('webhook-secret').waitFor();
      expect(await page.getByTestId('webhook-secret').textContent()).toBe(secret);
      await page.getByLabel('Keep the previous secret valid for').selectOption({ label: '1 hour' });
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await page.getByText('The secret was rotated.').waitFor();
      const newSecret = (await page.getByTestId('webhook-secret').textContent()) ?? '';
      expect(newSecret).toMatch(/^whsec_/);
      expect(newSecret).not.toBe(secret);
      await page.getByText('The previous secret stays valid until').waitFor();
      const before = receiver.requests.length;
      await page.getByRole('button', { name: 'Send test event' }).click();
      await page.getByText('Test delivered: HTTP 200').waitFor();
      const rotated = receiver.requests[before]!;
      expect(signatures(rotated.headers['x-agentfactory-signature'])).toEqual([
        hmacHex(newSecret, rotated.body),
        hmacHex(secret, rotated.body),
      ]);

      // Delete, with confirmation.
      await page.getByRole('button', { name: 'Delete webhook' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete “Support bot events”?' });
      await dialog.getByRole('button', { name: 'Delete permanently' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      await page.getByText('No webhooks yet.').waitFor();

      // The key is kept for the tab's session (a reload stays signed in) until Sign out.
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByText('You are signed out.').waitFor();
      await page.reload();
      await page.getByLabel('API key').waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'shows API errors in the form; edits, switches off and on, recovers failures and pages the log',
    async () => {
      const { page, errors } = await setUp();
      await signIn(page, server.url, server.apiKey);

      // Own secret: the rules are shown, and the service's refusal lands in the form.
      await page.getByRole('link', { name: 'Create Webhook' }).click();
      await page.getByLabel('Name', { exact: true }).fill('Billing');
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('Select all usage events').check();
      await page.getByLabel('Use my own secret').check();
      await page.getByText('16 to 256 printable ASCII characters').waitFor();
      await page.getByLabel('Your secret').fill('too-short');
      await page.getByRole('button', { name: 'Create webhook' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText('The webhook was not saved.').waitFor();
      await alert.getByText(/16 to 256 characters long/).waitFor();
      expect(takeExpectedStatus(errors, 400)).toBe(true);
      const ownSecret = 'my-own-secret-0123456789';
      await page.getByLabel('Your secret').fill(ownSecret);
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();
      expect(await page.getByTestId('created-webhook-secret').textContent()).toBe(ownSecret);

      // Switched off in the list, on again from its page.
      await page.getByRole('link', { name: 'Back to webhooks' }).click();
      const toggle = page.getByRole('switch', { name: 'Active: Billing' });
      await toggle.uncheck();
      await page
        .getByRole('row', { name: /Billing/ })
        .getByText('Off', { exact: true })
        .waitFor();
      await page.getByRole('link', { name: 'Billing' }).click();
      await page.getByText('Disabled', { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Enable webhook' }).click();
      await page.getByRole('button', { name: 'Disable webhook' }).waitFor();

      // Edit: the form starts from the webhook's values.
      await page.getByRole('link', { name: 'Edit webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Edit webhook' }).waitFor();
      expect(await page.getByLabel('usage.limit').isChecked()).toBe(true);
      await page.getByLabel('Name', { exact: true }).fill('Billing alerts');
      await page.getByLabel('usage.threshold').uncheck();
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('heading', { level: 1, name: 'Billing alerts' }).waitFor();
      const events = page.getByRole('region', { name: 'Overview' }).getByRole('listitem');
      expect(await events.allTextContents()).toEqual(['usage.limit']);

      // Recover: a failed delivery gets a new attempt once the receiver is back.
      receiver.mode = 'fail';
      await postEvent('usage.limit', eventSamples['usage.limit']);
      await eventually(() => receiver.requests.length >= 2, 'the attempt and its retry');
      const deliveries = page.getByRole('region', { name: 'Deliveries' });
      await page.getByRole('button', { name: 'Refresh deliveries' }).click();
      await deliveries.getByRole('row', { name: /usage\.limit.*Failed/ }).waitFor();
      receiver.mode = 'ok';
      await page.getByRole('button', { name: 'Recover failed deliveries' }).click();
      await page.getByText('1 delivery gets a new attempt now.').waitFor();
      await deliveries.getByRole('row', { name: /usage\.limit.*Succeeded/ }).waitFor();

      // The event filter, and "load more" past the first page of 50.
      await page.getByRole('button', { name: 'Send test event' }).click();
      await page.getByText('Test delivered: HTTP 200').waitFor();
      await page.getByLabel('Event', { exact: true }).selectOption('webhook.test');
      await deliveries.getByRole('row', { name: /webhook\.test/ }).waitFor();
      await eventually(
        async () => (await deliveries.getByRole('row').count()) === 2,
        'only the test delivery',
      );
      const batch = Array.from({ length: 55 }, () => ({
        event: 'usage.limit',
        data: eventSamples['usage.limit'],
      }));
      const response = await fetch(`${server.url}/v1/events/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: batch }),
      });
      expect(response.status).toBe(202);
      await page.getByLabel('Event', { exact: true }).selectOption('');
      const rows = () => deliveries.getByRole('row').count();
      await eventually(async () => (await rows()) === 51, 'a first page of 50 deliveries');
      await page.getByRole('button', { name: 'Load more deliveries' }).click();
      await eventually(async () => (await rows()) === 58, 'all 57 deliveries');
      expect(await page.getByRole('button', { name: 'Load more deliveries' }).count()).toBe(0);

      // 410 Gone switches the webhook off; the page says why and how to recover.
      receiver.mode = 'gone';
      await postEvent('usage.limit', eventSamples['usage.limit']);
      await page.getByText('your receiver answered 410 Gone').waitFor();
      await page.getByRole('button', { name: 'Enable webhook' }).waitFor();

      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'creates a webhook with the keyboard alone',
    async () => {
      const { page, errors } = await setUp();
      await page.goto(server.url);
      await tabTo(page, page.getByLabel('API key'));
      await page.keyboard.type(server.apiKey);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();

      await tabTo(page, page.getByRole('link', { name: 'Create Webhook' }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Create Webhook' }).waitFor();
      await tabTo(page, page.getByLabel('Name', { exact: true }));
      await page.keyboard.type('Keyboard webhook');
      await page.keyboard.press('Tab');
      await page.keyboard.type(receiver.url);
      await tabTo(page, page.getByLabel('Select all conversation events'));
      await page.keyboard.press('Space');
      await tabTo(page, page.getByLabel('usage.limit'));
      await page.keyboard.press('Space');
      await tabTo(page, page.getByRole('button', { name: 'Create webhook' }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();

      await tabTo(page, page.getByRole('link', { name: 'Go to Keyboard webhook' }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Keyboard webhook' }).waitFor();
      const events = page.getByRole('region', { name: 'Overview' }).getByRole('listitem');
      expect((await events.allTextContents()).sort()).toEqual([
        'conversation.ended',
        'conversation.message',
        'conversation.started',
        'usage.limit',
      ]);

      // The test event, by keyboard too.
      await tabTo(page, page.getByRole('button', { name: 'Send test event' }));
      await page.keyboard.press('Enter');
      await page.getByText('Test delivered: HTTP 200').waitFor();
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'is usable at phone width (390 px)',
    async () => {
      const { page, errors } = await setUp({ width: 390, height: 844 });
      await signIn(page, server.url, server.apiKey);
      expect(await overflowing(page)).toEqual([]);

      await page.getByRole('link', { name: 'Create Webhook' }).click();
      await page
        .getByLabel('Name', { exact: true })
        .fill('Phone webhook with a rather long name to wrap');
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('All events, including event types added later').check();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();
      expect(await overflowing(page)).toEqual([]);

      await page.getByRole('link', { name: /^Go to Phone webhook/ }).click();
      await page.getByRole('button', { name: 'Send test event' }).click();
      await page.getByText('Test delivered: HTTP 200').waitFor();
      await page
        .getByRole('region', { name: 'Deliveries' })
        .getByRole('row', { name: /webhook\.test.*Succeeded/ })
        .waitFor();

      // A catalog event's sample as the test, marked as a test for the receiver.
      await page.getByLabel('Event to send').selectOption('agent.deployed');
      await page.getByRole('button', { name: 'Send test event' }).click();
      await eventually(() => receiver.requests.length === 2, 'the sample test delivery');
      const sample = receiver.requests[1]!;
      expect(sample.headers['x-agentfactory-event']).toBe('agent.deployed');
      expect(sample.headers['x-agentfactory-test']).toBe('1');
      expect(JSON.parse(sample.body).data).toEqual(eventSamples['agent.deployed']);
      await page
        .getByRole('region', { name: 'Deliveries' })
        .getByRole('row', { name: /agent\.deployed.*Succeeded/ })
        .waitFor();
      expect(await overflowing(page)).toEqual([]);

      await page.getByRole('link', { name: 'webhook.test' }).click();
      await page.getByText('Attempt 1: HTTP 200').waitFor();
      expect(await overflowing(page)).toEqual([]);

      await page.getByRole('link', { name: 'Event catalog' }).click();
      await page.getByRole('heading', { level: 3, name: 'conversation.message' }).waitFor();
      expect(await overflowing(page)).toEqual([]);

      await page.getByRole('link', { name: 'Webhooks', exact: true }).first().click();
      await page.getByRole('link', { name: /Phone webhook/ }).waitFor();
      await page.getByText('100%').waitFor();
      expect(await overflowing(page)).toEqual([]);

      // A receiver answering bytes that are not text (a gzip page served undecoded): the answer
      // and the attempt show them as base64 and say why, and nothing overflows.
      receiver.mode = 'binary';
      await page.getByRole('link', { name: /Phone webhook/ }).click();
      await page.getByRole('button', { name: 'Send test event' }).click();
      await page.getByText('Test failed: HTTP 500').waitFor();
      await page.getByText(/^Not text \(\d+ bytes/).waitFor();
      expect(await overflowing(page)).toEqual([]);
      await page.getByRole('link', { name: 'View the delivery' }).click();
      await page.getByText('Attempt 1: HTTP 500').waitFor();
      await page.getByText(/^Not text \(\d+ bytes/).waitFor();
      expect(await overflowing(page)).toEqual([]);
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'checks signatures in the browser: verified, a secret without whsec_, a pretty-printed body; the secret is never sent',
    async () => {
      const { page, errors } = await setUp();
      // Every request the page makes, from the start (sign-in's proves the listener works).
      const requests: string[] = [];
      page.on('request', (request) => {
        requests.push(
          [request.url(), JSON.stringify(request.headers()), request.postData() ?? ''].join('\n'),
        );
      });
      await signIn(page, server.url, server.apiKey);

      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Tester' })
        .click();
      await page.getByRole('heading', { level: 1, name: 'Tester' }).waitFor();
      await page.getByText('the secret never leaves this page').waitFor();

      const secret = `whsec_${Buffer.from('browser-checker-key-0123456789ab').toString('base64')}`;
      const signed = await generateTestHeaders('conversation.message', secret);
      const headerLines = Object.entries(signed.headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join('\n');
      // By keyboard: the secret (hidden, then shown and hidden again), headers, body, Check.
      const secretField = page.getByLabel('Secret', { exact: true });
      expect(await secretField.getAttribute('type')).toBe('password');
      await tabTo(page, secretField);
      await page.keyboard.type(secret);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Space');
      expect(await secretField.getAttribute('type')).toBe('text');
      expect(await secretField.inputValue()).toBe(secret);
      await page.getByRole('button', { name: 'Hide secret' }).press('Enter');
      expect(await secretField.getAttribute('type')).toBe('password');
      await tabTo(page, page.getByLabel('Request headers'));
      await page.getByLabel('Request headers').fill(headerLines);
      await page.keyboard.press('Tab');
      await page.getByLabel('Raw body').fill(signed.body);
      await tabTo(page, page.getByRole('button', { name: 'Check signatures' }));
      await page.keyboard.press('Enter');
      const verdict = page.getByTestId('checker-verdict');
      await verdict.getByText('Verified: constructEvent accepts this request').waitFor();
      const standard = verdict.getByRole('listitem', { name: /Standard Webhooks/ });
      const body = verdict.getByRole('listitem', { name: /Body signature/ });
      expect(await standard.getByText('ok', { exact: true }).count()).toBe(1);
      expect(await body.getByText('ok', { exact: true }).count()).toBe(1);

      // The secret without its whsec_ prefix: both schemes fail, and the cause names it.
      await secretField.fill(secret.slice('whsec_'.length));
      await page.getByRole('button', { name: 'Check signatures' }).click();
      await verdict.getByText('Not verified: signature_mismatch.').waitFor();
      await standard.getByText('signature_mismatch', { exact: true }).waitFor();
      await body.getByText('signature_mismatch', { exact: true }).waitFor();
      await verdict.getByText('Your secret lacks the "whsec_" prefix').waitFor();
      await verdict.getByText('Use the whole secret, whsec_ included').waitFor();
      await body.getByText('Cause and fix: as above.').waitFor();

      // The right secret, the body pretty-printed on the way: the cause is the body; the headers
      // pasted as a JSON object work too.
      await secretField.fill(secret);
      await page.getByLabel('Request headers').fill(JSON.stringify(signed.headers, null, 2));
      await page.getByLabel('Raw body').fill(JSON.stringify(JSON.parse(signed.body), null, 2));
      await page.getByRole('button', { name: 'Check signatures' }).click();
      await verdict.getByText('Not verified: signature_mismatch.').waitFor();
      await verdict
        .getByText(/the signature matches it as compact JSON.*arrived formatted differently/)
        .waitFor();
      await standard.getByText('signature_mismatch', { exact: true }).waitFor();
      await body.getByText('signature_mismatch', { exact: true }).waitFor();

      // Headers that are not headers: said, and nothing checked.
      await page.getByLabel('Request headers').fill('not a header line');
      await page.getByRole('button', { name: 'Check signatures' }).click();
      await page.getByRole('alert').getByText('Line 1 is not a header').waitFor();

      const withoutPrefix = secret.slice('whsec_'.length);
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.filter((r) => r.includes(secret) || r.includes(withoutPrefix))).toEqual([]);
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    'sends an edited catalog event from the Tester and shows what was sent, what came back and why it failed',
    async () => {
      const { page, errors } = await setUp();
      const createWebhook = async (name: string, url: string): Promise<string> => {
        const response = await fetch(`${server.url}/v1/webhooks`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${server.apiKey}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ name, url, events: ['*'] }),
        });
        expect(response.status).toBe(201);
        return ((await response.json()) as { id: string }).id;
      };
      const targetId = await createWebhook('Tester target', receiver.url);
      await createWebhook('Another webhook', `${receiver.url}/other`);
      await signIn(page, server.url, server.apiKey);

      // From the webhook's page to the Tester, with that webhook picked.
      await page.getByRole('link', { name: 'Tester target' }).click();
      await page.getByRole('heading', { level: 1, name: 'Tester target' }).waitFor();
      await page.getByRole('link', { name: 'Open the Tester' }).click();
      await page.getByRole('heading', { level: 1, name: 'Tester' }).waitFor();
      const form = page.getByRole('region', { name: 'Send a test event' });
      expect(await form.getByLabel('Webhook').inputValue()).toBe(targetId);
      await form
        .getByLabel('Webhook')
        .selectOption({ label: `Another webhook (${receiver.url}/other)` });
      await form.getByLabel('Webhook').selectOption({ label: `Tester target (${receiver.url})` });
      await form.getByLabel('Event', { exact: true }).selectOption('conversation.message');
      const editor = form.getByLabel('Event data (JSON)');
      const sample = eventSamples['conversation.message'];
      expect(JSON.parse(await editor.inputValue())).toEqual(sample);
      const send = form.getByRole('button', { name: 'Send', exact: true });
      expect(await send.isEnabled()).toBe(true);

      // A wrong type for a required field: the schema error with its path, and no Send.
      await editor.fill(JSON.stringify({ ...sample, agent_id: 42 }, null, 2));
      const problems = form.getByTestId('data-problems');
      await problems.getByText('/data/agent_id').waitFor();
      await problems.getByText('must be string').waitFor();
      expect(await send.isDisabled()).toBe(true);
      // Not JSON at all: said, and no Send either.
      await editor.fill('{"agent_id": ');
      await problems.getByText(/^Not JSON/).waitFor();
      expect(await send.isDisabled()).toBe(true);

      // An edited, valid event: sent to the receiver, and the page shows both sides.
      const edited = { ...sample, message: 'Edited in the Tester' };
      await editor.fill(JSON.stringify(edited, null, 2));
      await form.getByText("Valid for this event's schema.").waitFor();
      await send.click();
      await form.getByText(/^Delivered: HTTP 200/).waitFor();
      expect(receiver.requests).toHaveLength(1);
      const got = receiver.requests[0]!;
      expect(JSON.parse(got.body).data).toEqual(edited);
      expect(got.headers['x-agentfactory-test']).toBe('1');
      const sent = form.getByRole('region', { name: 'Sent' });
      await sent.getByText(`POST ${receiver.url}`).waitFor();
      const sentHeaders = sent.getByRole('table', { name: 'Sent headers' });
      await sentHeaders.getByRole('rowheader', { name: /^webhook-signature$/i }).waitFor();
      await sentHeaders.getByRole('rowheader', { name: /^x-agentfactory-signature$/i }).waitFor();
      await sentHeaders
        .getByText(String(got.headers['webhook-signature']), { exact: true })
        .waitFor();
      await sentHeaders
        .getByText(String(got.headers['x-agentfactory-signature']), { exact: true })
        .waitFor();
      await sent.getByText(got.body, { exact: true }).waitFor();
      const received = form.getByRole('region', { name: 'Received' });
      await received.getByText('HTTP 200', { exact: true }).waitFor();
      await received.getByRole('table', { name: 'Received headers' }).waitFor();
      await received.getByText('{"received":true}').waitFor();

      // A failing receiver (500 with a body): the diagnosis, its fix, and the answer.
      receiver.mode = 'fail';
      await send.click();
      await form.getByText(/^Failed: HTTP 500/).waitFor();
      const diagnosis = form
        .getByRole('definition')
        .filter({ hasText: 'The receiver answered 500' });
      await diagnosis.getByText(/receiver is down for the test/).waitFor();
      await form.getByText(/see its logs for the error/).waitFor();
      await received.getByText('HTTP 500', { exact: true }).waitFor();
      await received.getByText('receiver is down for the test', { exact: true }).waitFor();
      expect(receiver.requests).toHaveLength(2);

      // At phone width, nothing makes the page scroll sideways (long headers and bodies wrap or
      // scroll in their own boxes).
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await overflowing(page)).toEqual([]);

      // Data the schema allows but the service refuses (past AF_MAX_PAYLOAD, 256 KB): its error
      // and the path it names.
      receiver.mode = 'ok';
      await editor.fill(JSON.stringify({ ...sample, message: 'x'.repeat(300_000) }));
      await form.getByText("Valid for this event's schema.").waitFor();
      await send.click();
      const refused = form.getByRole('alert');
      await refused.getByText('The service refused the data.').waitFor();
      await refused.getByText('The event data is too large.').waitFor();
      await refused
        .getByRole('listitem')
        .filter({ hasText: /the limit is \d+/ })
        .getByText('data', { exact: true })
        .waitFor();
      expect(takeExpectedStatus(errors, 413)).toBe(true);
      expect(receiver.requests).toHaveLength(2);

      expect(errors).toEqual([]);
    },
    flowTimeout,
  );

  it(
    "shows the account's listen sessions: the command when there is none, then a real listen connected, disconnected, its delivery, and deleted",
    async () => {
      const { page, errors } = await setUp();
      await signIn(page, server.url, server.apiKey);
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Tester' })
        .click();
      await page.getByRole('heading', { level: 1, name: 'Tester' }).waitFor();

      // No session yet: the empty state, and the command to copy, with this service's URL (the
      // test server is not on the CLI's default port).
      const panel = page.getByRole('region', { name: 'Listen sessions' });
      await panel.getByText('No listen sessions yet.').waitFor();
      expect(await panel.getByTestId('listen-command').textContent()).toBe(
        `agentfactory-webhooks listen --forward-to http://localhost:4000/webhooks --url ${new URL(server.url).origin}`,
      );
      await panel.getByRole('button', { name: 'Copy command' }).waitFor();

      // The CLI's own client, in process, forwarding to the receiver.
      const output: string[] = [];
      const io = {
        out: (line: string) => output.push(line),
        err: (line: string) => output.push(line),
      };
      let listen: RunningListen | undefined = startListen(
        {
          url: server.url,
          apiKey: server.apiKey,
          forwardTo: receiver.url,
          events: ['agent.*'],
          session: 'Laptop in the test',
        },
        io,
      );
      try {
        const ready = await listen.ready;
        const sessionId = ready.session.id;
        expect(sessionId).toMatch(/^lsn_/);

        // The row appears within a refresh (5 s), connected, with where it forwards.
        const row = panel.getByRole('row', { name: /Laptop in the test/ });
        await row.waitFor();
        await row.getByText(receiver.url, { exact: true }).waitFor();
        await row.getByText('Connected', { exact: true }).waitFor();
        await row.getByText('agent.*', { exact: true }).waitFor();
        await row.getByText('No deliveries yet').waitFor();

        // The listen secret the panel reveals is the one listen signs with.
        await panel.getByRole('button', { name: 'Reveal listen secret' }).click();
        expect(await panel.getByTestId('listen-secret').textContent()).toBe(ready.secret);
        // Rotated after a confirmation: the new one is the account's from now on.
        await panel.getByRole('button', { name: 'Rotate listen secret' }).click();
        await page
          .getByRole('dialog', { name: 'Rotate the listen secret?' })
          .getByRole('button', { name: 'Rotate now' })
          .click();
        await panel.getByText('The listen secret was rotated.').waitFor();
        const rotated = await fetch(`${server.url}/v1/listen/secret`, {
          headers: { authorization: `Bearer ${server.apiKey}` },
        });
        const { secret: newSecret } = (await rotated.json()) as { secret: string };
        expect(newSecret).not.toBe(ready.secret);
        expect(await panel.getByTestId('listen-secret').textContent()).toBe(newSecret);

        // An event reaches the receiver through listen; the row's last delivery follows.
        await postEvent('agent.created', eventSamples['agent.created']);
        await eventually(() => receiver.requests.length === 1, 'the forwarded delivery');
        await row.getByText('Succeeded', { exact: true }).waitFor();

        // At phone width the table becomes one block per session: nothing scrolls sideways.
        await page.setViewportSize({ width: 390, height: 844 });
        expect(await overflowing(page)).toEqual([]);
        await page.setViewportSize({ width: 1280, height: 900 });

        // Its delivery's page names the session and leads back to the Tester, not to a webhook
        // page that would answer 404; the session's id as a webhook address says what it is.
        const list = await fetch(`${server.url}/v1/deliveries?webhook_id=${sessionId}`, {
          headers: { authorization: `Bearer ${server.apiKey}` },
        });
        const [delivery] = ((await list.json()) as { data: { id: string }[] }).data;
        expect(delivery).toBeDefined();
        const base = '#/settings/integrations/webhooks';
        await page.goto(`${server.url}/${base}/${sessionId}/deliveries/${delivery!.id}`);
        await page.getByText('Attempt 1: HTTP 200').waitFor();
        await page
          .getByRole('region', { name: 'Delivery summary' })
          .getByText(`listen session ${sessionId}`)
          .waitFor();
        expect(await page.getByRole('link', { name: 'Back to the webhook' }).count()).toBe(0);
        await page.goto(`${server.url}/${base}/${sessionId}`);
        await page.getByRole('heading', { level: 1, name: 'Listen session' }).waitFor();
        await page.getByRole('link', { name: 'See your listen sessions on the Tester' }).click();
        await page.getByRole('heading', { level: 1, name: 'Tester' }).waitFor();
        await row.getByText('Connected', { exact: true }).waitFor();

        // listen stops: Disconnected within the next refresh, with when it was last seen.
        await listen.close();
        listen = undefined;
        await row.getByText('Disconnected', { exact: true }).waitFor({ timeout: 12_000 });
        await row.getByText(/^last seen/).waitFor();
        expect(output.join('\n')).toContain('Laptop in the test');

        // Delete, by keyboard, after a confirmation that opens on Cancel: Enter twice leaves
        // the session; Shift+Tab to Delete session deletes it.
        const remove = row.getByRole('button', {
          name: 'Delete listen session Laptop in the test',
        });
        const dialog = page.getByRole('dialog', {
          name: 'Delete listen session “Laptop in the test”?',
        });
        await tabTo(page, remove);
        await page.keyboard.press('Enter');
        await dialog.getByText(receiver.url).waitFor();
        await page.keyboard.press('Enter');
        await dialog.waitFor({ state: 'hidden' });
        await row.getByText('Disconnected', { exact: true }).waitFor();
        await tabTo(page, remove);
        await page.keyboard.press('Enter');
        await dialog.getByRole('button', { name: 'Cancel' }).waitFor();
        await page.keyboard.press('Shift+Tab');
        expect(
          await dialog
            .getByRole('button', { name: 'Delete session' })
            .evaluate((el) => el === document.activeElement),
        ).toBe(true);
        await page.keyboard.press('Enter');
        await dialog.waitFor({ state: 'hidden' });
        await panel.getByText('No listen sessions yet.').waitFor();
        expect(await row.count()).toBe(0);
        const after = await fetch(`${server.url}/v1/listen/sessions`, {
          headers: { authorization: `Bearer ${server.apiKey}` },
        });
        expect(((await after.json()) as { data: unknown[] }).data).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await listen?.close();
      }
    },
    flowTimeout,
  );

  it(
    'shows endpoint health: a failing badge and banner, auto-disabled, enabled and recovered in one step',
    async () => {
      const { page, errors } = await setUp();
      const created = await fetch(`${server.url}/v1/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Flaky receiver', url: receiver.url, events: ['agent.*'] }),
      });
      const { id } = (await created.json()) as { id: string };
      // The attempt and its retry fail: the delivery is exhausted, the webhook failing.
      receiver.mode = 'fail';
      await postEvent('agent.created', eventSamples['agent.created']);
      await eventually(() => receiver.requests.length >= 2, 'the attempt and its retry');
      await eventually(async () => {
        const r = await fetch(`${server.url}/v1/webhooks/${id}`, {
          headers: { authorization: `Bearer ${server.apiKey}` },
        });
        return ((await r.json()) as { health: { state: string } }).health.state === 'failing';
      }, 'the webhook failing');

      await signIn(page, server.url, server.apiKey);
      const row = page.getByRole('row', { name: /Flaky receiver/ });
      await row.getByText('Failing (1 delivery)').waitFor();
      await page.getByRole('link', { name: 'Flaky receiver' }).click();
      const banner = page.getByRole('region', { name: 'Endpoint health' });
      await banner.getByText('Failing: 1 delivery used up their attempts.').waitFor();
      await banner.getByText('last success never', { exact: false }).waitFor();
      await banner.getByRole('button', { name: 'Recover the failed deliveries' }).waitFor();

      // The service disables it (as AF_AUTO_DISABLE_AFTER would): the banner says why.
      expect(await server.store.disableFailingWebhooks(Date.now(), Date.now())).toBe(1);
      await page.reload();
      await banner
        .getByText('Disabled automatically: every delivery failed for too long')
        .waitFor();
      await page.getByText('Disabled (every delivery failed too long)').waitFor();

      // One step: enabled, and the failed delivery sent again to the receiver, now fixed.
      receiver.mode = 'ok';
      await banner
        .getByRole('button', { name: 'Enable and recover the failed deliveries' })
        .click();
      await banner.getByText('Enabled; 1 failed delivery gets a new attempt now.').waitFor();
      await eventually(() => receiver.requests.length >= 3, 'the recovered delivery');
      await page.getByRole('region', { name: 'Overview' }).getByText('Healthy').waitFor();
      await page.getByRole('button', { name: 'Disable webhook' }).waitFor();
      expect(await banner.getByRole('button').count()).toBe(0);

      // Back in the list: on, and healthy.
      await page.goto(`${server.url}/`);
      await row.getByText('Healthy').waitFor();
      expect(await page.getByRole('switch', { name: 'Active: Flaky receiver' }).isChecked()).toBe(
        true,
      );
      expect(errors).toEqual([]);
    },
    flowTimeout,
  );
});
