/**
 * The operations loop of a delivering process (`AF_ROLE` all or worker): every
 * `BUILT_IN.operationsIntervalMs` it stores the certificates the attempts' connections saw,
 * disables the webhooks failing past `AF_AUTO_DISABLE_AFTER` and publishes the health notices the
 * store holds as operational events (`notices.ts`), then wakes the engine for their deliveries;
 * every `BUILT_IN.retentionIntervalMs` (on the injected clock) it starts a retention run
 * (`retention.ts`) beside it, one at a time. Several processes on one PostgreSQL database may run
 * it at once: a disable and a notice's publication each happen once, in the store. One step that
 * fails (logged) does not keep the others of its round from running.
 *
 * It runs on a timer of its own, never on the delivery path: the completions only write the
 * notices, in the transaction that changes a webhook's health.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { BUILT_IN, type OperationsSettings } from '../config.js';
import type { CertificateWatch } from '../delivery/certificates.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/types.js';
import { noticeEvent } from './notices.js';
import { purgeOld } from './retention.js';

export interface OperationsMonitorOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  settings: OperationsSettings;
  /** Wakes the delivery engine: new deliveries are due now. */
  notify: () => void;
  /** Default `BUILT_IN.operationsIntervalMs`; tests pass less. */
  intervalMs?: number;
  metrics?: Pick<Metrics, 'rowsPurged'>;
  /** The certificates the engine's connections saw (`delivery/certificates.ts`). */
  certificates?: CertificateWatch;
}

export class OperationsMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private purging: Promise<unknown> | undefined;
  private lastPurgeAt = Number.NEGATIVE_INFINITY;
  private lastCertificateCheckAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: OperationsMonitorOptions) {}

  start(): void {
    this.schedule();
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.purging;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.o.intervalMs ?? BUILT_IN.operationsIntervalMs);
    this.timer.unref();
  }

  /**
   * One round: retention started when due, the certificates seen and their warnings,
   * auto-disable, then the notices, oldest first.
   */
  async tick(): Promise<void> {
    this.startRetention();
    await this.step('storing certificates', () => this.watchCertificates());
    await this.step('auto-disable', () => this.autoDisable());
    await this.step('publishing health notices', () => this.publishNotices());
  }

  private async step(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.o.logger.warn({ err }, `operations: ${what} failed; trying again next round`);
    }
  }

  private async autoDisable(): Promise<void> {
    const { store, clock, settings, logger } = this.o;
    if (settings.autoDisableAfterMs <= 0) return;
    const now = clock.now();
    const disabled = await store.disableFailingWebhooks(now - settings.autoDisableAfterMs, now);
    if (disabled > 0) {
      logger.info({ webhooks: disabled }, `disabled ${disabled} webhook(s) failing too long`);
    }
  }

  private async publishNotices(): Promise<void> {
    const { store, clock } = this.o;
    for (;;) {
      const notices = await store.listWebhookNotices(BUILT_IN.noticeBatch);
      if (notices.length === 0) return;
      const now = clock.now();
      const deliveries = await store.publishWebhookNotices(
        notices.map((n) => noticeEvent(n, now)),
        now,
      );
      if (deliveries > 0) this.o.notify();
      if (notices.length < BUILT_IN.noticeBatch || this.stopped) return;
    }
  }

  /**
   * The certificates seen since the last round, stored and warned of at once; every webhook's
   * every `BUILT_IN.certificateCheckMs` (a threshold may pass with no new connection).
   */
  private async watchCertificates(): Promise<void> {
    const { store, clock, certificates } = this.o;
    const seen = certificates?.take() ?? [];
    if (seen.length > 0) {
      try {
        await store.recordCertificates(seen, clock.now());
      } catch (err) {
        certificates!.restore(seen);
        throw err;
      }
    }
    const now = clock.now();
    if (now - this.lastCertificateCheckAt >= BUILT_IN.certificateCheckMs) {
      this.lastCertificateCheckAt = now;
      await store.warnExpiringCertificates(now);
    }
  }

  /** A retention run, unless one runs or the last started less than its interval ago. */
  private startRetention(): void {
    const { store, clock, settings, logger, metrics } = this.o;
    const now = clock.now();
    if (settings.retentionMs <= 0 || this.purging) return;
    if (now - this.lastPurgeAt < BUILT_IN.retentionIntervalMs) return;
    this.lastPurgeAt = now;
    this.purging = purgeOld(
      { store, logger, metrics, retentionMs: settings.retentionMs, stopped: () => this.stopped },
      now,
    )
      .catch((err) => logger.warn({ err }, 'retention failed; trying again at its next run'))
      .finally(() => {
        this.purging = undefined;
      });
  }
}
