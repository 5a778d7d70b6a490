import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Workspace packages resolve to their TypeScript sources, so tests need no build.
    conditions: ['agentfactory-source'],
  },
  ssr: {
    resolve: { conditions: ['agentfactory-source'], externalConditions: ['agentfactory-source'] },
  },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'packages/*/src/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    typecheck: {
      enabled: true,
      // Type tests belong to the SDK; its tsconfig resolves workspace sources like the tests do.
      tsconfig: 'packages/webhooks/tsconfig.json',
      include: ['packages/*/test/**/*.test-d.ts', 'apps/*/test/**/*.test-d.ts'],
    },
  },
});
