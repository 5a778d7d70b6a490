import { defineConfig } from 'vitest/config';
import { eventValidators } from './apps/dashboard/event-validators.js';

export default defineConfig({
  // The dashboard's build-time validators (`virtual:event-validators`), for its unit tests.
  plugins: [eventValidators()],
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
