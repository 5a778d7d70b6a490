import { useSyncExternalStore } from 'react';

/**
 * A hash router: the server only has to serve `index.html` at `/`, and every page has a URL
 * that survives a reload and works with the browser's back button.
 */
export type Route =
  | { name: 'webhooks' }
  | { name: 'new-webhook' }
  | { name: 'webhook'; id: string }
  | { name: 'edit-webhook'; id: string }
  | { name: 'delivery'; id: string; deliveryId: string }
  | { name: 'catalog' }
  | { name: 'tester'; webhookId?: string }
  | { name: 'api-keys' }
  | { name: 'audit-log' }
  | { name: 'not-found' };

const base = '#/settings/integrations/webhooks';

export const paths = {
  webhooks: base,
  newWebhook: `${base}/new`,
  webhook: (id: string) => `${base}/${encodeURIComponent(id)}`,
  editWebhook: (id: string) => `${base}/${encodeURIComponent(id)}/edit`,
  delivery: (id: string, deliveryId: string) =>
    `${base}/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}`,
  catalog: '#/events',
  tester: `${base}/tester`,
  apiKeys: '#/settings/api-keys',
  auditLog: '#/settings/audit-log',
  /** The Tester with a webhook picked. */
  testerFor: (id: string) => `${base}/tester?webhook=${encodeURIComponent(id)}`,
};

/**
 * A delivery's `webhook_id` is a listen session's `lsn_…` id when the CLI's `listen` received it:
 * no webhook page exists for it (the webhooks API answers 404), its sessions are on the Tester.
 */
export function isListenSessionId(id: string): boolean {
  return id.startsWith('lsn_');
}

export function parseRoute(hash: string): Route {
  const [path = '/', query = ''] = (hash.replace(/^#/, '') || '/').split('?');
  if (path === '/' || path === '/settings/integrations/webhooks') return { name: 'webhooks' };
  if (path === '/events') return { name: 'catalog' };
  if (path === '/settings/api-keys') return { name: 'api-keys' };
  if (path === '/settings/audit-log') return { name: 'audit-log' };
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'settings' || parts[1] !== 'integrations' || parts[2] !== 'webhooks') {
    return { name: 'not-found' };
  }
  const [, , , id, section, deliveryId] = parts;
  if (id === 'new' && !section) return { name: 'new-webhook' };
  // Webhook ids start with `wh_`: `tester` is never one.
  if (id === 'tester' && !section) {
    const webhookId = new URLSearchParams(query).get('webhook');
    return webhookId ? { name: 'tester', webhookId } : { name: 'tester' };
  }
  if (id && !section) return { name: 'webhook', id };
  if (id && section === 'edit' && !deliveryId) return { name: 'edit-webhook', id };
  if (id && section === 'deliveries' && deliveryId) return { name: 'delivery', id, deliveryId };
  return { name: 'not-found' };
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

/** The current route; re-renders on every hash change. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parseRoute(hash);
}

export function navigate(href: string): void {
  window.location.hash = href.replace(/^#/, '');
}
