import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);
/** The runtime's executable, from its npm package (a dev dependency). */
const binary = (pkg: string, file: string) =>
  join(dirname(require.resolve(`${pkg}/package.json`)), file);

/**
 * Bun's executable: bun's postinstall moves it from the platform package over the placeholder
 * `bun/bin/bun.exe`, but `npm ci` may not run that script, so take whichever is the real one.
 */
function bunBinary(): string {
  try {
    const direct = binary(`@oven/bun-${process.platform}-${process.arch}`, 'bin/bun');
    if (existsSync(direct)) return direct;
  } catch {
    // No platform package resolvable: fall back to the installed bin.
  }
  return binary('bun', 'bin/bun.exe');
}

async function check(command: string, args: string[]): Promise<string> {
  const { stdout } = await run(command, [...args, join(here, 'check.mjs')], {
    cwd: here,
    timeout: 60_000,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
  });
  return stdout;
}

const EXPECTED = 'ok vectors 5\nok server\ndone\n';

describe('the core on other runtimes (test/runtimes/check.mjs)', () => {
  it('Bun: vectors through the public API, and createWebHandler behind Bun.serve', async () => {
    expect(await check(bunBinary(), ['run'])).toBe(EXPECTED);
  }, 70_000);

  it('Deno: vectors through the public API, and createWebHandler behind Deno.serve', async () => {
    const deno = ['run', '--quiet', '--no-config', '--no-lock', '--sloppy-imports'];
    const permissions = ['--allow-read', '--allow-net=127.0.0.1', '--allow-env'];
    expect(await check(binary('deno', 'bin.cjs'), [...deno, ...permissions])).toBe(EXPECTED);
  }, 70_000);
});
