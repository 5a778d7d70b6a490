// The SQLite store's thread when the service runs from its TypeScript sources (tests, `tsx`):
// Node 20 ignores `--import tsx` in a Worker's `execArgv` (nodejs/node#47747), so the thread
// registers tsx itself and then loads `worker.ts`. The build runs `worker.js` directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
