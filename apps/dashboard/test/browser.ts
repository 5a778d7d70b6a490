/**
 * Browser test helpers: Debian's Chromium through playwright-core, a real receiver on loopback,
 * console-error collection, and keyboard-only navigation.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
} from 'playwright-core';

const dashboardDir = fileURLToPath(new URL('..', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The server serves `apps/dashboard/dist`: build it when it is missing or older than the
 * sources, so a plain `vitest run` never tests a stale dashboard (`npm test` builds it first).
 */
export function ensureDashboardBuilt(): void {
  const index = join(dashboardDir, 'dist', 'index.html');
  const sources = Math.max(
    newestMtime(join(dashboardDir, 'src')),
    statSync(join(dashboardDir, 'index.html')).mtimeMs,
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  // The dashboard's own Vite (7), not the one Vitest brings.
  const vite = join(dirname(createRequire(index).resolve('vite/package.json')), 'bin/vite.js');
  execFileSync(process.execPath, [vite, 'build'], {
    cwd: dashboardDir,
    stdio: 'ignore',
    timeout: 60_000,
  });
}

/**
 * The Chromium to drive: `CHROMIUM_PATH` when set, else `chromium` (Debian's package) or
 * `chromium-browser` on the PATH; undefined when there is none.
 */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const path = join(dir, name);
      if (dir && existsSync(path)) return path;
    }
  }
  return undefined;
}

/**
 * Whether the browser tests run: with a Chromium, and always under `CI=true`, where a missing
 * one must fail the run (as a missing PostgreSQL does) rather than skip what CI is for. Without
 * one elsewhere they are skipped with one line saying how to get it.
 */
export function browserTestsRun(): boolean {
  if (findChromium() !== undefined || process.env.CI === 'true') return true;
  console.log(
    'Skipping the dashboard browser tests: no Chromium found. Install it (apt-get install -y chromium) or set CHROMIUM_PATH.',
  );
  return false;
}

export function launchBrowser(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === undefined) {
    throw new Error(
      'No Chromium found for the browser tests (CI=true requires them): apt-get install -y chromium, or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** What the receiver answers from now on. */
  mode: 'ok' | 'fail' | 'gone' | 'binary';
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1: answers 200 `{"received":true}`, 500 when failing, 410 when gone. */
export async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    requests: [],
    mode: 'ok',
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.requests.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (receiver.mode === 'ok') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      } else if (receiver.mode === 'binary') {
        // A compressed error page served without decoding: bytes, not text.
        res
          .writeHead(500, { 'content-type': 'text/html', 'content-encoding': 'gzip' })
          .end(gzipSync('<h1>Internal error</h1>'));
      } else if (receiver.mode === 'gone') {
        res.writeHead(410, { 'content-type': 'text/plain' }).end('this endpoint is gone');
      } else {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver is down for the test');
      }
    });
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  return receiver;
}

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, as text. */
  errors: string[];
}

export async function openPage(
  browser: Browser,
  viewport: { width: number; height: number } = { width: 1280, height: 900 },
): Promise<TestPage> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return { context, page, errors };
}

/**
 * Chromium logs every non-2xx fetch as a console error. A step that expects an API error takes
 * exactly one such line for that status away; every other error still fails the test.
 */
export function takeExpectedStatus(errors: string[], status: number): boolean {
  const i = errors.findIndex((e) => e.includes(`status of ${status}`));
  if (i === -1) return false;
  errors.splice(i, 1);
  return true;
}

export async function signIn(page: Page, baseUrl: string, apiKey: string): Promise<void> {
  await page.goto(baseUrl);
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
}

/** Presses Tab until `target` has the focus, as a keyboard user would; bounded. */
export async function tabTo(page: Page, target: Locator, maxPresses = 120): Promise<void> {
  for (let i = 0; i < maxPresses; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${target}`);
}

/** Waits until `check` passes, for at most `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/**
 * Elements that stick out past the right edge of the viewport (outside scrollable boxes): empty
 * when nothing makes the page scroll sideways.
 */
export function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of document.body.querySelectorAll('*')) {
      if (el.parentElement?.closest('.table-wrap, pre, svg')) continue;
      const right = el.getBoundingClientRect().right;
      if (right > width + 1) {
        const id = el.id ? `#${el.id}` : '';
        const cls = el.className && typeof el.className === 'string' ? `.${el.className}` : '';
        out.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(right)}`);
      }
    }
    if (document.documentElement.scrollWidth > width)
      out.unshift(`scrollWidth=${document.documentElement.scrollWidth}`);
    return out.slice(0, 10);
  });
}
