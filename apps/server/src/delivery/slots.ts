import type { Fairness } from './fairness.js';

/**
 * Per-webhook slots in one worker: at most the webhook's limit of attempts run at once (see
 * `Fairness.limit`); the claimed deliveries beyond it wait here, in claim order, and start the
 * moment an attempt ends, without a round trip to the database. A webhook slowed down sends its
 * waiting deliveries beyond its new lease cap back (`shed`), so they do not hold the worker.
 */
export class WebhookSlots {
  /**
   * Per webhook: attempts running, and the deliveries waiting (woken with `true` to take the
   * slot, `false` to go back unsent). A waiting entry without an id (the test action) is never
   * sent back.
   */
  private readonly webhooks = new Map<
    string,
    { running: number; waiting: { id: string; wake: (go: boolean) => void }[] }
  >();

  constructor(private readonly fairness: Fairness) {}

  /**
   * Resolves once a slot of the webhook is taken (true), or false when the delivery was sent
   * back meanwhile (`shed`). `id` is '' for what is never sent back.
   */
  async take(webhookId: string, id: string): Promise<boolean> {
    let w = this.webhooks.get(webhookId);
    if (!w) {
      w = { running: 0, waiting: [] };
      this.webhooks.set(webhookId, w);
    }
    if (w.running < this.fairness.limit(webhookId)) {
      w.running++;
      return true;
    }
    // `release` hands its slot over without counting it free.
    const entry = w;
    return new Promise<boolean>((wake) => entry.waiting.push({ id, wake }));
  }

  /**
   * An attempt ended: its slot goes to the next delivery waiting, if any, and not past the
   * webhook's limit; a limit raised since (successes) opens more slots at once.
   */
  release(webhookId: string): void {
    const w = this.webhooks.get(webhookId);
    if (!w) return;
    const limit = this.fairness.limit(webhookId);
    const next = w.running <= limit ? w.waiting.shift() : undefined;
    if (next) next.wake(true);
    else w.running--;
    while (w.running < limit && w.waiting.length > 0) {
      w.running++;
      w.waiting.shift()?.wake(true);
    }
    if (w.running === 0) this.webhooks.delete(webhookId);
  }

  /** Sends back the deliveries waiting for the webhook beyond its lease cap (it was slowed). */
  shed(webhookId: string): void {
    const w = this.webhooks.get(webhookId);
    if (!w) return;
    const keep = Math.max(0, this.fairness.leases(webhookId) - w.running);
    const shed = w.waiting.filter((entry, i) => i >= keep && entry.id !== '');
    if (shed.length === 0) return;
    w.waiting = w.waiting.filter((entry) => !shed.includes(entry));
    for (const entry of shed) entry.wake(false);
  }

  /** At shutdown: every waiting delivery takes a slot at once (and returns unsent, see the engine). */
  wakeAll(): void {
    for (const w of this.webhooks.values()) {
      const waiting = w.waiting.splice(0);
      w.running += waiting.length;
      for (const entry of waiting) entry.wake(true);
    }
  }
}
