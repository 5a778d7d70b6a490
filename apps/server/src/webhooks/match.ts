import { eventNames } from '@agentfactory/webhooks';

/**
 * Whether a webhook subscribed to `patterns` receives `event`. A pattern is an event name,
 * `*` (every event), or a category wildcard such as `agent.*`. `webhook.test` is never matched:
 * it is sent only by the test action.
 */
export function matchesEvent(patterns: readonly string[], event: string): boolean {
  if (event === 'webhook.test') return false;
  for (const p of patterns) {
    if (p === '*' || p === event) return true;
    if (p.endsWith('.*') && event.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

/** The categories a wildcard may name: the part before the dot of every catalog event. */
export const eventCategories = [...new Set(eventNames.map((n) => n.split('.')[0]!))].filter(
  (c) => c !== 'webhook',
);

/** Whether `pattern` is a valid subscription: a catalog name (not `webhook.test`), `*` or `category.*`. */
export function isValidPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventCategories.includes(pattern.slice(0, -2));
  return pattern !== 'webhook.test' && (eventNames as string[]).includes(pattern);
}
