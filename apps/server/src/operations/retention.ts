/**
 * Retention (`AF_RETENTION`): finished events, deliveries and attempts older than the setting are
 * deleted in batches of `BUILT_IN.retentionBatch` events (`Store.purgeFinished`), each batch its
 * own short transaction, with a turn of the event loop between batches so that delivery never
 * waits behind a purge. A pending delivery and its event are never deleted. What a run deleted is
 * counted in `/metrics` and logged in one line.
 */
import { setImmediate as yieldTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BUILT_IN, formatDuration } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { PurgeCounts, Store } from '../store/types.js';

export interface RetentionOptions {
  store: Store;
  logger: Logger;
  metrics?: Pick<Metrics, 'rowsPurged'> | undefined;
  retentionMs: number;
  /** Events per batch; default `BUILT_IN.retentionBatch`. */
  batch?: number;
  /** Asked between batches: true ends the run early (shutdown). */
  stopped?: () => boolean;
}

/** Deletes everything finished before `now - retentionMs`, batch by batch; answers the totals. */
export async function purgeOld(o: RetentionOptions, now: number): Promise<PurgeCounts> {
  const limit = o.batch ?? BUILT_IN.retentionBatch;
  const before = now - o.retentionMs;
  const total: PurgeCounts = { events: 0, deliveries: 0, attempts: 0, webhooks: 0 };
  const started = performance.now();
  let batches = 0;
  for (;;) {
    const n = await o.store.purgeFinished(before, limit);
    batches++;
    total.events += n.events;
    total.deliveries += n.deliveries;
    total.attempts += n.attempts;
    total.webhooks += n.webhooks;
    o.metrics?.rowsPurged(n);
    if ((n.events < limit && n.webhooks < limit) || o.stopped?.()) break;
    await yieldTurn();
  }
  const rows = total.events + total.deliveries + total.attempts + total.webhooks;
  if (rows > 0) {
    o.logger.info(
      { ...total, batches, ms: Math.round(performance.now() - started) },
      `retention: deleted ${total.events} events, ${total.deliveries} deliveries, ` +
        `${total.attempts} attempts and ${total.webhooks} deleted webhooks older than ` +
        formatDuration(o.retentionMs),
    );
  }
  return total;
}
