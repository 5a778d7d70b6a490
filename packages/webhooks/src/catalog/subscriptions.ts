/**
 * What a webhook subscribes to (SPEC §5 `events`): an event name, `*` (every event) or a category
 * wildcard such as `agent.*`. The service matches events with these rules when it fans out, its
 * API validates with them, and the dashboard expands wildcards into its checkboxes with them.
 * `webhook.test` is never subscribed to: only the test action sends it.
 */
import { eventNames } from './index.js';

/** The event a subscription never names: sent by the test action alone. */
const TEST_EVENT = 'webhook.test';

/** The category of an event name: the part before its first dot (`agent` of `agent.created`). */
export function categoryOf(name: string): string {
  return name.split('.')[0] ?? name;
}

/** Every event type a webhook can subscribe to, in catalog order. */
export const subscribableEventNames: readonly string[] = eventNames.filter((n) => n !== TEST_EVENT);

/** The categories a wildcard may name, in catalog order. */
export const eventCategories: readonly string[] = [
  ...new Set(subscribableEventNames.map(categoryOf)),
];

/**
 * Whether a webhook subscribed to `patterns` receives `event`.
 *
 * @example
 * matchesEvent(['agent.*'], 'agent.created'); // true
 */
export function matchesEvent(patterns: readonly string[], event: string): boolean {
  if (event === TEST_EVENT) return false;
  for (const p of patterns) {
    if (p === '*' || p === event) return true;
    if (p.endsWith('.*') && event.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

/** Whether `pattern` is a valid subscription: a subscribable name, `*` or `category.*`. */
export function isValidPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventCategories.includes(pattern.slice(0, -2));
  return subscribableEventNames.includes(pattern);
}
