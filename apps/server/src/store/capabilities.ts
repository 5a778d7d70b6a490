/**
 * Optional store capabilities: what some stores can do beyond the `Store` interface. The engine
 * checks for them at run time (`hasWorkNotifier(store)`) and falls back to polling without them.
 */

/**
 * Wake-ups across processes: the store tells subscribers that new work may be due (events
 * accepted, a manual retry or a recover, leases released), so idle workers claim at once
 * instead of waiting for their next poll. A hint, never a guarantee: a worker still polls, since
 * a wake-up can be lost (a reconnect) and a due retry sends none.
 */
export interface WorkNotifier {
  /** Calls `cb` whenever work may be available; answers a function that unsubscribes. */
  onWorkAvailable(cb: () => void): () => void;
}

/** Whether `store` sends wake-ups. */
export function hasWorkNotifier<T extends object>(store: T): store is T & WorkNotifier {
  return typeof (store as Partial<WorkNotifier>).onWorkAvailable === 'function';
}
