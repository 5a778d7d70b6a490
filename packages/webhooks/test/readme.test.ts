import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');

describe('README code is the tested, type-checked example files', () => {
  for (const file of [
    'node.ts',
    'express.ts',
    'fastify.ts',
    'hono.ts',
    'nextjs-route.ts',
    'without-sdk.ts',
  ]) {
    it(`holds examples/typescript/${file} verbatim`, () => {
      expect(readme).toContain(`\`\`\`ts\n${read(`examples/typescript/${file}`)}\`\`\``);
    });
  }

  it("holds the Python receiver's verify() verbatim", () => {
    const python = read('examples/python/receiver.py');
    const verify = python.slice(python.indexOf('def verify('), python.indexOf('\n\n\ndef handle('));
    expect(verify.length).toBeGreaterThan(500);
    expect(readme).toContain(`\`\`\`python\n${verify}\n\`\`\``);
  });

  it('names every error code', () => {
    for (const code of [
      'missing_header',
      'invalid_signature_format',
      'signature_mismatch',
      'timestamp_too_old',
      'timestamp_too_new',
      'invalid_timestamp',
      'invalid_payload',
      'body_already_parsed',
      'invalid_secret',
    ]) {
      expect(readme).toContain(code);
    }
  });
});
