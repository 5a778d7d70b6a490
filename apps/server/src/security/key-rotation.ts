/**
 * The encryption key rotation (`agentfactory-webhooks rotate-encryption-key`, SPEC §7): every
 * encrypted value (webhooks' secrets, previous secrets and custom headers, listen sessions'
 * secrets, accounts' listen secrets) opened and sealed again under the newest key, in the newest
 * blob format (`crypto.ts`), a page of rows at a time.
 *
 * Safe to interrupt and to run again: each page is written in one transaction, a value already
 * under the newest key is skipped, and a value is written only while it still holds the blob it
 * was read as (`Store.replaceEncryptedValues`), so a secret the API rotated meanwhile is never
 * overwritten with the old one. A page where the API won such a race is read again in the next
 * pass. A value that does not decrypt (altered, copied from another row, or sealed with a key no
 * longer configured) is reported by row and column, never by content, and left as it is.
 */
import type {
  EncryptedChange,
  EncryptedColumn,
  EncryptedRow,
  EncryptedTable,
  Store,
} from '../store/types.js';
import { blobContext, type Cipher } from './crypto.js';

export interface RotationProgress {
  /** Rows looked at in this pass. */
  rows: number;
  /** Rows holding encrypted values (the total of a pass). */
  total: number;
  /** Values sealed again so far, all passes. */
  rewritten: number;
  pass: number;
}

/** A value the rotation could not open: where it is and why (no content). */
export interface RotationFailure {
  table: EncryptedTable;
  id: string;
  column: EncryptedColumn;
  reason: string;
}

export interface RotationResult {
  /** Values sealed again under the newest key. */
  rewritten: number;
  /** Values left as they were: they do not decrypt with the configured keys. */
  failures: RotationFailure[];
  /** False when it stopped early (`shouldStop`), or values kept changing under it. */
  complete: boolean;
}

export interface RotationOptions {
  /** Rows per page and transaction. */
  batchSize?: number;
  /** Called after each page. */
  onProgress?: (progress: RotationProgress) => void;
  /** Asked before each page: true stops at that point (an interrupt), leaving nothing half done. */
  shouldStop?: () => boolean;
}

export const DEFAULT_ROTATION_BATCH = 200;
/** Passes at most: another pass runs only when the API changed a value between read and write. */
const MAX_PASSES = 5;

/** The context a stored value was sealed for (`blobContext`), from where it is stored. */
export function contextOf(row: EncryptedRow, column: EncryptedColumn): string {
  if (row.table === 'accounts') return blobContext.listenSecret(row.id);
  return column === 'headers_enc'
    ? blobContext.webhookHeaders(row.id)
    : blobContext.secretOf(row.id, row.accountId);
}

/** Seals every encrypted value again under `cipher`'s newest key. */
export async function rotateEncryptionKey(
  store: Store,
  cipher: Cipher,
  options: RotationOptions = {},
): Promise<RotationResult> {
  const batchSize = options.batchSize ?? DEFAULT_ROTATION_BATCH;
  let rewritten = 0;
  let failures: RotationFailure[] = [];
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    failures = [];
    let raced = 0;
    let rows = 0;
    const total = await store.countEncryptedRows();
    for (const table of ['accounts', 'webhooks'] as const) {
      let after: string | null = null;
      for (;;) {
        if (options.shouldStop?.()) return { rewritten, failures, complete: false };
        const page = await store.listEncryptedValues(table, after, batchSize);
        if (page.length === 0) break;
        const changes: EncryptedChange[] = [];
        for (const row of page) {
          for (const { column, blob } of row.values) {
            if (cipher.isCurrent(blob)) continue;
            const context = contextOf(row, column);
            let plain: string;
            try {
              plain = cipher.decrypt(blob, context);
            } catch (err) {
              failures.push({ table, id: row.id, column, reason: (err as Error).message });
              continue;
            }
            changes.push({
              table,
              id: row.id,
              column,
              from: blob,
              to: cipher.encrypt(plain, context),
            });
          }
        }
        const written = await store.replaceEncryptedValues(changes);
        rewritten += written;
        raced += changes.length - written;
        rows += page.length;
        after = page[page.length - 1]!.id;
        options.onProgress?.({ rows, total: Math.max(total, rows), rewritten, pass });
      }
    }
    if (raced === 0) return { rewritten, failures, complete: true };
  }
  return { rewritten, failures, complete: false };
}
