import { type DedupeClaim, type DedupeStore, DONE_TTL_MS } from './store.js';

export interface MemoryDedupeStoreOptions {
  /** How long a done id is remembered. Default 25 h. */
  doneTtlMs?: number;
  /**
   * How long a processing claim holds before a copy may take it over (a handler that hangs or a
   * request that was cut). Default 10 minutes.
   */
  processingTtlMs?: number;
  /**
   * Most ids kept; beyond it the least recently seen go first, even before their TTL. Default
   * 100 000 (tens of MB at most): size it above the events you receive in 25 hours.
   */
  maxEntries?: number;
  /** The clock, milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

interface Entry {
  state: 'processing' | 'done';
  expiresAt: number;
}

/**
 * An in-memory LRU {@link DedupeStore} for one process. State is lost on restart, which only
 * means that a copy arriving after a restart is handled again.
 *
 * @example
 * const webhooks = new Webhooks({ secret, dedupe: new MemoryDedupeStore({ maxEntries: 500_000 }) });
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #entries = new Map<string, Entry>();
  readonly #doneTtlMs: number;
  readonly #processingTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: MemoryDedupeStoreOptions = {}) {
    this.#doneTtlMs = options.doneTtlMs ?? DONE_TTL_MS;
    this.#processingTtlMs = options.processingTtlMs ?? 10 * 60 * 1000;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
    if (!(this.#maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1.');
  }

  /** How many ids are held (expired ones included until they are touched or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  async claim(id: string): Promise<DedupeClaim> {
    const now = this.#now();
    const entry = this.#entries.get(id);
    if (entry && entry.expiresAt > now) {
      this.#touch(id, entry);
      return entry.state;
    }
    this.#set(id, { state: 'processing', expiresAt: now + this.#processingTtlMs });
    return 'claimed';
  }

  async complete(id: string): Promise<void> {
    this.#set(id, { state: 'done', expiresAt: this.#now() + this.#doneTtlMs });
  }

  async release(id: string): Promise<void> {
    if (this.#entries.get(id)?.state === 'processing') this.#entries.delete(id);
  }

  #touch(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#entries.set(id, entry);
  }

  #set(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    this.#evict();
  }

  /** Drops expired ids from the old end, then the least recently seen while over capacity. */
  #evict(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && entry.expiresAt > now) break;
      this.#entries.delete(id);
    }
  }
}
