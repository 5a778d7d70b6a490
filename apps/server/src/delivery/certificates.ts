/**
 * The certificate watch: which webhook's endpoint presented which certificate, from the TLS
 * connections the attempts open anyway (`Sender.certificateOf`; no connection is made for it).
 * `AttemptRunner` calls `seen` after each attempt: a map lookup unless a new connection recorded
 * a certificate since this webhook was last looked at, so the hot path pays nothing more. The
 * operations loop takes what changed (`take`) and stores it (`Store.recordCertificates`), which
 * tells the account when a certificate nears its end (`webhook.certificate_expiring`).
 */
import type { CertificateSeen } from '../store/types.js';
import type { Sender } from './sender.js';

export class CertificateWatch {
  /** Webhook id → its URL and the sender's `certificateVersion` when it was last looked at. */
  private readonly checked = new Map<string, { url: string; version: number }>();
  /** Webhook id → the URL and `notAfter` last handed out for it. */
  private readonly known = new Map<string, { url: string; expiresAt: number }>();
  private changed = new Map<string, CertificateSeen>();

  constructor(private readonly sender: Pick<Sender, 'certificateVersion' | 'certificateOf'>) {}

  /**
   * After an attempt to `url`: notes the certificate its origin presented, when it is new (a new
   * URL of the webhook is looked at again: the store forgot the old one's certificate).
   */
  seen(webhookId: string, accountId: string, url: string): void {
    const version = this.sender.certificateVersion;
    if (version === 0) return;
    const last = this.checked.get(webhookId);
    if (last && last.version === version && last.url === url) return;
    this.checked.set(webhookId, { url, version });
    const expiresAt = this.sender.certificateOf(url);
    const known = this.known.get(webhookId);
    if (expiresAt === undefined || (known?.url === url && known.expiresAt === expiresAt)) return;
    this.known.set(webhookId, { url, expiresAt });
    this.changed.set(webhookId, { webhookId, accountId, expiresAt });
  }

  /** The certificates seen since the last call. */
  take(): CertificateSeen[] {
    const out = [...this.changed.values()];
    this.changed = new Map();
    return out;
  }

  /** Hands back what `take` gave when it could not be stored: it is taken again next time. */
  restore(items: CertificateSeen[]): void {
    for (const c of items) if (!this.changed.has(c.webhookId)) this.changed.set(c.webhookId, c);
  }
}
