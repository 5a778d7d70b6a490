import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { eventValidators } from './event-validators.js';

const sdkSource = fileURLToPath(new URL('../../packages/webhooks/src/index.ts', import.meta.url));

export default defineConfig({
  // Relative asset paths, so the build works wherever the server mounts it.
  base: './',
  // The SDK is bundled from its TypeScript sources: no SDK build needed before this one.
  resolve: { alias: { '@agentfactory/webhooks': sdkSource } },
  esbuild: { jsx: 'automatic' },
  // Event data checks compiled at build time: no `new Function` under the CSP.
  plugins: [eventValidators()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  // `npm run dev -w @agentfactory/dashboard` against a service on the default port.
  server: { proxy: { '/v1': 'http://127.0.0.1:3000' } },
});
