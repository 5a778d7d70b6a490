import {
  categoryOf,
  type EventTypeInfo,
  eventCatalog,
  eventCategories,
  matchesEvent,
  subscribableEventNames,
} from '@agentfactory/webhooks';

export { categoryOf };

/** The categories a webhook subscribes by, in catalog order (the order the form shows them). */
export const categories = eventCategories;

export const categoryTitles: Record<string, string> = {
  agent: 'Agent events',
  conversation: 'Conversation events',
  usage: 'Usage events',
  error: 'Error events',
  webhook: 'Webhook events',
};

/** Events a webhook can subscribe to, with their descriptions (the SDK's subscription rules). */
export const subscribableEvents: EventTypeInfo[] = eventCatalog.filter((info) =>
  subscribableEventNames.includes(info.name),
);

export function eventsIn(category: string): EventTypeInfo[] {
  return subscribableEvents.filter((info) => categoryOf(info.name) === category);
}

/** Expands `*` and `agent.*`-style wildcards into catalog names, for the form's checkboxes. */
export function expandEvents(events: string[]): Set<string> {
  return new Set(subscribableEventNames.filter((name) => matchesEvent(events, name)));
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
