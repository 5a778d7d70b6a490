/**
 * A webhook row as the store takes it, every field at a plain default (active, all events, no
 * headers, no rotation, never delivered); a test names the fields that matter to it. The
 * service's own `newWebhookRow`.
 */
export { newWebhookRow as webhookRow } from '../../src/store/types.js';
