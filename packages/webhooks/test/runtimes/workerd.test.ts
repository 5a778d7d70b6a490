import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTestHeaders } from '../../src/index.js';

const require = createRequire(import.meta.url);
const pkgRoot = fileURLToPath(new URL('../..', import.meta.url));
const workerd = join(dirname(require.resolve('workerd/package.json')), 'bin/workerd');
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let dir: string;
let child: ChildProcess | undefined;
let base: string;
let log = '';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => relative(root, join(root, f)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'af-workerd-'));
  execFileSync(
    'node',
    [
      require.resolve('typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(dir, 'sdk'),
    ],
    { cwd: pkgRoot, timeout: 60_000 },
  );
  copyFileSync(join(pkgRoot, 'test/runtimes/worker.mjs'), join(dir, 'worker.mjs'));
  copyFileSync(join(pkgRoot, 'test/fixtures/signatures.json'), join(dir, 'signatures.json'));
  const modules = [
    '(name = "worker.mjs", esModule = embed "worker.mjs")',
    '(name = "signatures.json", json = embed "signatures.json")',
    ...listFiles(join(dir, 'sdk')).map((f) => `(name = "sdk/${f}", esModule = embed "sdk/${f}")`),
  ];
  const port = await freePort();
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2025-01-01",
);
`,
  );
  child = spawn(workerd, ['serve', 'config.capnp'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c) => {
    log += String(c);
  });
  child.stderr!.on('data', (c) => {
    log += String(c);
  });
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited: ${log}`);
    const up = await fetch(`${base}/handled`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`workerd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('Cloudflare Workers runtime (workerd), the ESM build as a module worker', () => {
  it('passes every signature vector through the public API', async () => {
    const result = await (await fetch(`${base}/vectors`)).json();
    expect(result).toEqual({ cases: 5, failures: [] });
  });

  it('createWebHandler verifies, dedupes and refuses inside the worker', async () => {
    const post = async (body: string, headers: Record<string, string>) =>
      (await fetch(`${base}/webhooks`, { method: 'POST', body, headers })).status;
    const request = await generateTestHeaders('conversation.message', SECRET);
    expect(await post(request.body, request.headers)).toBe(200);
    expect(await post(request.body, request.headers)).toBe(200);
    expect(await post(request.body.replace('Hello', 'Hullo'), request.headers)).toBe(401);
    expect(await post(request.body, { 'content-type': 'application/json' })).toBe(401);
    expect(await (await fetch(`${base}/handled`)).json()).toEqual([request.event.id]);
  });
});
