/**
 * The errors of the SDK, each with a stable `code` that programs may switch on and that the
 * handler answers with (`{ "error": { "code", "message" } }`).
 */

/** Every code a {@link WebhookVerificationError} may carry. Stable: new codes are only added. */
export const verificationErrorCodes = [
  'missing_header',
  'invalid_signature_format',
  'signature_mismatch',
  'timestamp_too_old',
  'timestamp_too_new',
  'invalid_timestamp',
  'invalid_payload',
  'body_already_parsed',
  'invalid_secret',
] as const;

export type VerificationErrorCode = (typeof verificationErrorCodes)[number];

/**
 * The HTTP status a receiver answers for each code: 401 when the request cannot be trusted,
 * 400 when its body is not usable, 500 when the receiver itself is misconfigured (so that the
 * sender retries once it is fixed).
 */
export const verificationErrorStatus: Record<VerificationErrorCode, number> = {
  missing_header: 401,
  invalid_signature_format: 401,
  signature_mismatch: 401,
  timestamp_too_old: 401,
  timestamp_too_new: 401,
  invalid_timestamp: 401,
  invalid_payload: 400,
  body_already_parsed: 400,
  invalid_secret: 500,
};

/**
 * Thrown when a request cannot be verified or parsed.
 *
 * @example
 * try {
 *   const event = await constructEvent(rawBody, req.headers, secret);
 * } catch (err) {
 *   if (err instanceof WebhookVerificationError) console.warn(err.code, err.message);
 *   throw err;
 * }
 */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly code: VerificationErrorCode;
  /** The HTTP status a receiver should answer with. */
  readonly status: number;

  constructor(code: VerificationErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = verificationErrorStatus[code];
  }
}

/** Explains why a parsed object cannot be verified and how each framework keeps the raw body. */
export const BODY_ALREADY_PARSED_MESSAGE =
  'The request body was already parsed into an object, but a signature covers the exact raw ' +
  'bytes that were sent: re-serializing parsed JSON changes them. Pass the raw body (a string, ' +
  "Uint8Array or Buffer). Express: mount express.raw({ type: 'application/json' }) on the webhook " +
  'route (or the SDK middleware) instead of express.json(). Fastify: register a raw-body ' +
  "content-type parser for the route (addContentTypeParser('application/json', { parseAs: " +
  "'buffer' }, ...)) or use the SDK's Fastify plugin. Next.js route handlers: read the body " +
  'with `await req.text()`, not `await req.json()`.';
