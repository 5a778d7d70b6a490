import { type EventTypeInfo, eventCatalog } from '@agentfactory/webhooks';

/** The categories a webhook subscribes by, in the order the form shows them. */
export const categories = ['agent', 'conversation', 'usage', 'error'] as const;
export type Category = (typeof categories)[number];

export const categoryTitles: Record<string, string> = {
  agent: 'Agent events',
  conversation: 'Conversation events',
  usage: 'Usage events',
  error: 'Error events',
  webhook: 'Webhook events',
};

export function categoryOf(name: string): string {
  return name.split('.')[0] ?? name;
}

/** Events a webhook can subscribe to: the catalog without `webhook.test` (sent by the test action only). */
export const subscribableEvents: EventTypeInfo[] = eventCatalog.filter(
  (info) => info.name !== 'webhook.test',
);

export function eventsIn(category: string): EventTypeInfo[] {
  return subscribableEvents.filter((info) => categoryOf(info.name) === category);
}

/** Expands `*` and `agent.*`-style wildcards into catalog names, for the form's checkboxes. */
export function expandEvents(events: string[]): Set<string> {
  const names = new Set<string>();
  for (const pattern of events) {
    for (const info of subscribableEvents) {
      if (pattern === '*' || pattern === info.name) names.add(info.name);
      else if (pattern.endsWith('.*') && info.name.startsWith(pattern.slice(0, -1))) {
        names.add(info.name);
      }
    }
  }
  return names;
}

/**
 * The `events` to save: checked names, except that a category subscribed with its wildcard
 * (`agent.*`) stays a wildcard while all of its events are checked, so that editing a webhook
 * does not silently drop event types added to that category later.
 */
export function eventsToSave(selected: Set<string>, original: string[] = []): string[] {
  const out: string[] = [];
  for (const info of subscribableEvents) {
    const category = categoryOf(info.name);
    const wildcard = `${category}.*`;
    const whole = eventsIn(category).every((e) => selected.has(e.name));
    if (whole && original.includes(wildcard)) {
      if (!out.includes(wildcard)) out.push(wildcard);
    } else if (selected.has(info.name)) {
      out.push(info.name);
    }
  }
  return out;
}
