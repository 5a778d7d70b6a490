import { newId } from '../../src/ids.js';
import { NEW_HEALTH, type WebhookRow } from '../../src/store/types.js';

/**
 * A webhook row as the store takes it, every field at a plain default (active, all events, no
 * headers, no rotation, never delivered); a test names the fields that matter to it.
 */
export function webhookRow(
  over: Partial<WebhookRow> & Pick<WebhookRow, 'accountId' | 'url' | 'secretEnc' | 'createdAt'>,
): WebhookRow {
  return {
    id: newId('wh'),
    name: 'h',
    events: ['*'],
    active: true,
    disabledReason: null,
    description: null,
    headersEnc: null,
    headerNames: [],
    metadata: {},
    previousSecretEnc: null,
    previousSecretExpiresAt: null,
    updatedAt: over.createdAt,
    lastDeliveryAt: null,
    lastDeliveryStatus: null,
    health: { ...NEW_HEALTH },
    ...over,
  };
}
