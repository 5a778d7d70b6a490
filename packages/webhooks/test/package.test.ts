import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });

describe('the published package', () => {
  beforeAll(() => {
    run('node', ['scripts/build.mjs']);
  }, 60_000);

  it('has no runtime dependencies', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependencies ?? {}).toEqual({});
  });

  it('every exports target exists after the build', () => {
    const targets: string[] = [];
    const walk = (node: unknown) => {
      if (typeof node === 'string') targets.push(node);
      else if (node && typeof node === 'object') Object.values(node).forEach(walk);
    };
    walk(pkg.exports);
    expect(targets.length).toBeGreaterThan(20);
    for (const target of targets) expect(existsSync(`${root}/${target}`), target).toBe(true);
  });

  it('npm pack holds only dist, README.md and package.json', () => {
    const [packed] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--silent']));
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(files.filter((f) => !f.startsWith('dist/')).sort()).toEqual([
      'README.md',
      'package.json',
    ]);
    expect(files).toContain('dist/cjs/index.d.ts');
    expect(files).toContain('dist/esm/adapters/fastify/index.d.ts');
  });

  it('loads from dist as ESM and as CommonJS, main entry and subpaths', () => {
    const esm = run('node', [
      '--input-type=module',
      '-e',
      `import * as m from '@agentfactory/webhooks';
       import { createWebHandler } from '@agentfactory/webhooks/web';
       const r = await m.generateTestHeaders('agent.created', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
       const w = new m.Webhooks({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
       console.log((await w.receive(r)).status, typeof createWebHandler, import.meta.resolve('@agentfactory/webhooks'));`,
    ]);
    expect(esm).toMatch(/^200 function file:.*\/dist\/esm\/index\.js/);
    const cjs = run('node', [
      '-e',
      `const m = require('@agentfactory/webhooks');
       const { createNodeMiddleware } = require('@agentfactory/webhooks/node');
       m.signPayload({ body: '{}', secret: 'abc', id: 'evt_1', timestamp: 1 })
         .then((h) => console.log(h['x-agentfactory-signature'].slice(0, 7), typeof createNodeMiddleware, require.resolve('@agentfactory/webhooks')));`,
    ]);
    expect(cjs).toMatch(/^sha256= function .*\/dist\/cjs\/index\.js/);
  });

  it('its declarations type-check for consumers under every moduleResolution', () => {
    const dir = mkdtempSync(join(tmpdir(), 'af-consumer-'));
    try {
      const installed = join(dir, 'node_modules/@agentfactory/webhooks');
      mkdirSync(installed, { recursive: true });
      cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(installed, 'package.json'));
      const consumer = `import { constructEvent, Webhooks } from '@agentfactory/webhooks';
import { createNodeMiddleware } from '@agentfactory/webhooks/node';
import { createWebHandler } from '@agentfactory/webhooks/web';
const webhooks = new Webhooks({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
webhooks.on('conversation.message', (event) => event.data.message);
export const handlers = [createNodeMiddleware(webhooks), createWebHandler(webhooks), constructEvent];
`;
      writeFileSync(join(dir, 'consumer.cts'), consumer);
      writeFileSync(join(dir, 'consumer.mts'), consumer);
      writeFileSync(join(dir, 'consumer.ts'), consumer);
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const base = [
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--lib',
        'es2022,dom',
        '--typeRoots',
        './none',
      ];
      for (const [resolution, module, file] of [
        ['node10', 'commonjs', 'consumer.ts'],
        ['node16', 'node16', 'consumer.cts'],
        ['node16', 'node16', 'consumer.mts'],
        ['nodenext', 'nodenext', 'consumer.cts'],
        ['bundler', 'esnext', 'consumer.ts'],
      ] as const) {
        const args = [tsc, ...base, '--moduleResolution', resolution, '--module', module, file];
        expect(
          () => execFileSync('node', args, { cwd: dir, encoding: 'utf8' }),
          `${resolution} ${file}`,
        ).not.toThrow();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
