/**
 * Dedupe by event id. The sender delivers at least once, so one event may arrive twice: a retry
 * after a timeout that the receiver did handle, or a copy racing the first. An id is
 * *processing* from arrival until its handlers finish, then *done* when they succeeded; a failure
 * releases it so that the sender's retry is handled.
 */

/** What a claim found: `claimed` means the caller now holds the id and must handle it. */
export type DedupeClaim = 'claimed' | 'processing' | 'done';

/**
 * Where dedupe state lives. The built-in {@link MemoryDedupeStore} suits one process; with
 * several, implement this on a shared store (e.g. Redis `SET id processing NX PX …`).
 */
export interface DedupeStore {
  /** Atomically marks `id` processing when it is unknown (or its claim expired). */
  claim(id: string): Promise<DedupeClaim>;
  /** The handlers succeeded: remember `id` as done, at least 25 hours. */
  complete(id: string): Promise<void>;
  /** The handlers failed: forget `id`, so that the sender's retry is handled. */
  release(id: string): Promise<void>;
}

/** 25 hours: the sender's 24 h retry window plus the signature tolerance, with margin. */
export const DONE_TTL_MS = 25 * 60 * 60 * 1000;
