export { MemoryDedupeStore, type MemoryDedupeStoreOptions } from './memory-store.js';
export { type DedupeClaim, type DedupeStore, DONE_TTL_MS } from './store.js';
