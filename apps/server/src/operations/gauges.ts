/**
 * The health gauges of `/metrics` (`Metrics.watchHealth`), read from the store on the metrics'
 * timer, never at a scrape: how long the oldest due delivery has waited (`nextDueAt`, one index
 * lookup), and the failing and disabled webhooks (`countWebhookHealth`).
 */
import type { Clock } from '../clock.js';
import type { HealthGauges } from '../metrics.js';
import type { Store } from '../store/types.js';

export async function healthGauges(store: Store, clock: Clock): Promise<HealthGauges> {
  const now = clock.now();
  const [due, counts] = await Promise.all([store.nextDueAt(now), store.countWebhookHealth()]);
  return {
    oldestDueAgeSeconds: due === null || due > now ? 0 : (now - due) / 1000,
    failingWebhooks: counts.failing,
    disabledWebhooks: counts.disabled,
  };
}
