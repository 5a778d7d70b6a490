import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for webhook secrets, custom header values and listen secrets (SPEC §6
 * `AF_ENCRYPTION_KEYS`, or the single `AF_ENCRYPTION_KEY`). AES-256-GCM authenticates as well as
 * hides, so a row edited in the database fails to decrypt instead of signing with an attacker's
 * secret.
 *
 * Blob formats (text, base64url parts joined by dots; `docs/security.md`):
 * - `v2.<key id>.<iv>.<tag>.<ciphertext>`: what the service writes. The key id (`keyId`) names
 *   the key that sealed it, so several keys can be configured during a rotation and a blob of a
 *   removed key is told apart from an altered one. The additional data is
 *   `v2.<key id>.<context>`, the context naming the row and field (`blobContext`): a blob copied
 *   into another webhook's row, or from the secret into the headers, does not decrypt.
 * - `v1.<iv>.<tag>.<ciphertext>`: the format before key rotation, with no key id and no context.
 *   Still read (with each configured key in turn) so existing databases keep working;
 *   `rotate-encryption-key` rewrites every one as `v2`. Written only when no context is given,
 *   which the service never does (test fixtures and the benchmark build rows that way).
 */
export interface Cipher {
  /** The configured keys' ids, newest (the one `encrypt` uses) first. */
  readonly keyIds: readonly string[];
  /** Seals `plain` under the newest key, bound to `context` (`blobContext`). */
  encrypt(plain: string, context?: string): string;
  /**
   * Opens a blob sealed for `context`. Throws `DecryptError` when the blob was altered, is
   * malformed, belongs to another row or field, or was sealed with a key not configured.
   */
  decrypt(blob: string, context?: string): string;
  /** Whether `blob` is already in the newest format under the newest key (rotation skips it). */
  isCurrent(blob: string): boolean;
}

export class DecryptError extends Error {
  readonly code = 'decrypt_failed';
  constructor(message = 'The encrypted value could not be decrypted (altered, or another key).') {
    super(message);
    this.name = 'DecryptError';
  }
}

/**
 * What a blob is bound to: the row and the field it is stored in. A webhook's current and
 * previous secret share one context (rotation moves the blob from one column to the other), and a
 * listen session signs with its account's listen secret, so its copy has the account's context.
 */
export const blobContext = {
  webhookSecret: (webhookId: string) => `webhook:${webhookId}:secret`,
  webhookHeaders: (webhookId: string) => `webhook:${webhookId}:headers`,
  listenSecret: (accountId: string) => `account:${accountId}:listen_secret`,
  /** The secret of a `webhooks` row: a listen session's (`lsn_…`) is its account's listen secret. */
  secretOf: (webhookId: string, accountId: string) =>
    webhookId.startsWith('lsn_')
      ? blobContext.listenSecret(accountId)
      : blobContext.webhookSecret(webhookId),
};

const V1 = 'v1';
const V2 = 'v2';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A key's id: the first 6 bytes of SHA-256 over a label and the key, base64url (8 characters).
 * Public by design (it is in every blob): 48 bits of a hash say nothing useful about a 256-bit
 * random key, and are enough to tell a handful of configured keys apart.
 */
export function keyId(key: Buffer): string {
  return createHash('sha256')
    .update('agentfactory encryption key id\0')
    .update(key)
    .digest()
    .subarray(0, 6)
    .toString('base64url');
}

/** A base64 key as its 32 bytes; throws a TypeError naming the problem. */
export function parseKey(keyBase64: string): Buffer {
  const trimmed = keyBase64.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) || key.length !== 32) {
    throw new TypeError(
      `The encryption key must be 32 bytes encoded as base64 (got ${key.length} bytes); generate one with \`openssl rand -base64 32\`.`,
    );
  }
  return key;
}

function seal(key: Buffer, plain: string, aad: Buffer | null): [Buffer, Buffer, Buffer] {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  if (aad) c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), ct];
}

/** The plaintext, or null when the tag does not verify (wrong key, altered, other context). */
function open(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, aad: Buffer | null): string | null {
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad) d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

const unknownFormat = () => new DecryptError('The encrypted value has an unknown format.');

/**
 * A cipher over one key or several, newest first (`keysBase64[0]` encrypts; every one decrypts
 * the blobs it sealed). Each key must decode to exactly 32 bytes (`openssl rand -base64 32`).
 */
export function createCipher(keysBase64: string | readonly string[]): Cipher {
  const list = typeof keysBase64 === 'string' ? [keysBase64] : keysBase64;
  if (list.length === 0) throw new TypeError('At least one encryption key is needed.');
  const keys = list.map(parseKey);
  const ids = keys.map(keyId);
  if (new Set(ids).size !== ids.length)
    throw new TypeError('The same encryption key is configured twice.');
  const byId = new Map(ids.map((id, i) => [id, keys[i]!]));
  const newest = keys[0]!;
  const newestId = ids[0]!;
  const aadOf = (id: string, context: string) => Buffer.from(`${V2}.${id}.${context}`, 'utf8');

  return {
    keyIds: ids,
    encrypt(plain, context) {
      if (context === undefined) {
        return [V1, ...seal(newest, plain, null)].map(part).join('.');
      }
      const sealed = seal(newest, plain, aadOf(newestId, context));
      return [V2, newestId, ...sealed].map(part).join('.');
    },
    decrypt(blob, context) {
      const parts = blob.split('.');
      if (parts[0] === V2 && parts.length === 5) {
        const id = parts[1]!;
        const [iv, tag, ct] = bytes(parts.slice(2));
        const key = byId.get(id);
        if (!key)
          throw new DecryptError(
            `The encrypted value was sealed with key ${id}, which is not configured (AF_ENCRYPTION_KEYS).`,
          );
        const plain = open(key, iv, tag, ct, aadOf(id, context ?? ''));
        if (plain === null)
          throw new DecryptError(
            `The encrypted value does not open for this ${context === undefined ? 'use' : fieldOf(context)}: altered, or copied from another row or field.`,
          );
        return plain;
      }
      if (parts[0] === V1 && parts.length === 4) {
        const [iv, tag, ct] = bytes(parts.slice(1));
        for (const key of keys) {
          const plain = open(key, iv, tag, ct, null);
          if (plain !== null) return plain;
        }
        throw new DecryptError();
      }
      throw unknownFormat();
    },
    isCurrent(blob) {
      return blob.startsWith(`${V2}.${newestId}.`);
    },
  };
}

function part(p: string | Buffer): string {
  return typeof p === 'string' ? p : p.toString('base64url');
}

/** The IV, tag and ciphertext of a blob, checked for their lengths. */
function bytes(parts: string[]): [Buffer, Buffer, Buffer] {
  const [iv, tag, ct] = parts.map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw unknownFormat();
  return [iv, tag, ct];
}

/** `webhook:wh_1:secret` → `webhook wh_1's secret`, for error messages (ids are not secret). */
function fieldOf(context: string): string {
  const [kind, id, field] = context.split(':');
  return `${kind} ${id}'s ${field?.replace('_', ' ')}`;
}
