// Checking X-AgentFactory-Signature by hand with node:crypto, e.g. in an existing code base.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** True when one of the header's comma-separated `sha256=` signatures matches the raw body. */
export function isValidSignature(
  rawBody: Buffer | string,
  header: string,
  secret: string,
): boolean {
  const expected = createHmac('sha256', secret).update(rawBody).digest(); // 32 bytes
  return header.split(',').some((part) => {
    const value = part.trim();
    if (!value.startsWith('sha256=')) return false;
    const received = Buffer.from(value.slice('sha256='.length), 'hex');
    return received.length === expected.length && timingSafeEqual(received, expected);
  });
}
