/**
 * The API's errors (SPEC §5): each class carries a stable `code` and its HTTP status, and
 * `errorHandler` is the one place that turns any thrown error — ours, Fastify's or an
 * unexpected one — into `{"error": {code, message, details?}}`.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export interface ErrorDetail {
  /** A JSON Pointer into the request body (or the query parameter's name, `/limit`). */
  path: string;
  message: string;
}

export type ErrorCode =
  | 'invalid_json'
  | 'validation_error'
  | 'url_not_allowed'
  | 'unauthorized'
  | 'forbidden'
  | 'insufficient_scope'
  | 'not_found'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_flight'
  | 'delivery_in_flight'
  | 'payload_too_large'
  | 'unknown_event_type'
  | 'schema_violation'
  | 'limit_exceeded'
  | 'rate_limited'
  | 'unavailable'
  | 'internal_error';

/** An error answer lists at most this many details, and says how many there were. */
export const MAX_DETAILS = 20;
/** Answers echo parts of the request (paths, names): each text is clipped to keep them small. */
const MAX_MESSAGE = 512;
const MAX_DETAIL_TEXT = 256;

export class ApiError extends Error {
  /**
   * How many problems there were, when `details` holds only some of them (validation stops
   * collecting once it has `MAX_DETAILS`); else `details.length`.
   */
  readonly detailsTotal: number;

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    detailsTotal?: number,
  ) {
    super(message);
    this.name = new.target.name;
    this.detailsTotal = Math.max(detailsTotal ?? 0, details?.length ?? 0);
  }
}

export class InvalidJsonError extends ApiError {
  constructor(message = 'The request body is not valid JSON.') {
    super(400, 'invalid_json', message);
  }
}

export class ValidationError extends ApiError {
  constructor(message: string, details?: ErrorDetail[], detailsTotal?: number) {
    super(400, 'validation_error', message, details, detailsTotal);
  }
  /** One malformed field: the message is repeated as its detail. */
  static field(path: string, message: string): ValidationError {
    return new ValidationError(message, [{ path, message }]);
  }
}

export class UrlNotAllowedError extends ApiError {
  constructor(message: string) {
    super(400, 'url_not_allowed', message, [{ path: '/url', message }]);
  }
}

export class UnauthorizedError extends ApiError {
  constructor(message = 'A valid API key is required: `Authorization: Bearer <api key>`.') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

/**
 * An account key whose scopes do not cover the route (SPEC §5): the message names the scope it
 * needs, and so does `WWW-Authenticate` (RFC 6750 §3.1), for clients that read headers.
 */
export class InsufficientScopeError extends ApiError {
  constructor(
    readonly scope: string,
    held: readonly string[],
  ) {
    super(
      403,
      'insufficient_scope',
      `This API key's scopes (${held.join(', ')}) do not allow this call: it needs the scope "${scope}".`,
    );
  }
}

export class NotFoundError extends ApiError {
  constructor(what = 'resource') {
    super(404, 'not_found', `No such ${what}.`);
  }
}

export class ConflictError extends ApiError {
  constructor(
    code: 'idempotency_key_reused' | 'idempotency_key_in_flight' | 'delivery_in_flight',
    message: string,
    details?: ErrorDetail[],
  ) {
    super(409, code, message, details);
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(message: string, details?: ErrorDetail[], detailsTotal?: number) {
    super(413, 'payload_too_large', message, details, detailsTotal);
  }
}

export class UnknownEventTypeError extends ApiError {
  constructor(message: string, details?: ErrorDetail[], detailsTotal?: number) {
    super(422, 'unknown_event_type', message, details, detailsTotal);
  }
}

export class SchemaViolationError extends ApiError {
  constructor(message: string, details: ErrorDetail[], detailsTotal?: number) {
    super(422, 'schema_violation', message, details, detailsTotal);
  }
}

/** An account quota (SPEC §6): the message names the limit and the setting that raises it. */
export class LimitExceededError extends ApiError {
  constructor(message: string, path?: string) {
    super(422, 'limit_exceeded', message, path === undefined ? undefined : [{ path, message }]);
  }
}

/**
 * A rate limit (`rate-limit/`): the answer carries `Retry-After` and the `RateLimit` headers,
 * set by the limit's hook before this is thrown.
 */
export class RateLimitedError extends ApiError {
  constructor(message: string) {
    super(429, 'rate_limited', message);
  }
}

export class UnavailableError extends ApiError {
  constructor(
    message = 'The database is unreachable; try again shortly.',
    readonly retryAfterSeconds = 5,
  ) {
    super(503, 'unavailable', message);
  }
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Ajv errors → details whose paths are JSON Pointers, `prefix` prepended (`/data`); only the
 * first `max` are formatted (an `enum` message lists every allowed value, and an answer shows
 * `MAX_DETAILS` at most).
 */
export function ajvDetails(
  errors: readonly AjvLikeError[],
  prefix = '',
  max = MAX_DETAILS,
): ErrorDetail[] {
  return errors.slice(0, max).map((e) => {
    let path = `${prefix}${e.instancePath ?? ''}`;
    let message = e.message ?? 'is invalid';
    const p = e.params ?? {};
    if (e.keyword === 'required' && typeof p.missingProperty === 'string') {
      path = `${path}/${escapePointer(p.missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') {
      path = `${path}/${escapePointer(p.additionalProperty)}`;
      message = 'is not a known field';
    } else if (e.keyword === 'pattern' && p.pattern === '^[^\\u0000]*$') {
      message = 'must not contain NUL (\\u0000) characters';
    } else if (e.keyword === 'pattern' && p.pattern === '^[\\x21-\\x7e]*$') {
      message = 'must hold only visible ASCII characters';
    } else if (e.keyword === 'enum' && Array.isArray(p.allowedValues)) {
      message = `must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return { path: path === '' ? '/' : path, message };
  });
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function summarize(details: ErrorDetail[], total = details.length): string {
  const first = details[0];
  if (!first) return 'The request is invalid.';
  const more = total > 1 ? ` (and ${total - 1} more)` : '';
  return `${clip(first.path, MAX_DETAIL_TEXT)} ${first.message}${more}`;
}

type FastifyValidationError = FastifyError & {
  validation?: AjvLikeError[];
  validationContext?: string;
};

/** Maps every error to the SPEC §5 shape. Unexpected errors are logged and answered as 500. */
export function errorHandler(
  error: FastifyValidationError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const api = toApiError(error);
  if (api.status >= 500 && !(api instanceof UnavailableError)) {
    request.log.error({ err: error }, 'unexpected error');
  }
  if (api instanceof UnavailableError) reply.header('retry-after', String(api.retryAfterSeconds));
  if (api instanceof InsufficientScopeError)
    reply.header('www-authenticate', `Bearer error="insufficient_scope", scope="${api.scope}"`);
  return reply.code(api.status).send(errorBody(api));
}

/** `text` cut to at most `max` UTF-16 units, never inside a surrogate pair, marked with `…`. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/**
 * The SPEC §5 body. However many problems a request has and whatever it echoes, the answer stays
 * small: the first `MAX_DETAILS` details, `details_total` for how many there were, and every
 * text clipped.
 */
export function errorBody(api: ApiError): {
  error: { code: string; message: string; details?: ErrorDetail[]; details_total?: number };
} {
  const details = api.details ?? [];
  return {
    error: {
      code: api.code,
      message: clip(api.message, MAX_MESSAGE),
      ...(details.length > 0
        ? {
            details: details.slice(0, MAX_DETAILS).map((d) => ({
              path: clip(d.path, MAX_DETAIL_TEXT),
              message: clip(d.message, MAX_DETAIL_TEXT),
            })),
            details_total: api.detailsTotal,
          }
        : {}),
    },
  };
}

export function toApiError(error: FastifyValidationError): ApiError {
  if (error instanceof ApiError) return error;
  // The store could not reach its database (PostgreSQL down or unreachable): retry later.
  if (error.name === 'StoreUnavailableError') return new UnavailableError();
  // A stored secret this service's keys do not open (`security/crypto.ts`): altered, copied from
  // another row, or sealed with a key no longer configured. Said plainly; nothing secret in it.
  if (error.name === 'DecryptError')
    return new ApiError(
      500,
      'internal_error',
      `A stored secret could not be decrypted: ${error.message} Set a new one (e.g. rotate the secret).`,
    );
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    const details = ajvDetails(error.validation);
    if (context !== 'body') {
      for (const d of details) d.message = `${d.message} (${context})`;
    }
    const total = error.validation.length;
    return new ValidationError(summarize(details, total), details, total);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidJsonError(
        error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? 'The request body is empty; send a JSON object.'
          : 'The request body is not valid JSON.',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidJsonError(
        'Send the request body as JSON with `Content-Type: application/json`.',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('The request body is too large.');
    case 'FST_ERR_NOT_FOUND':
      return new NotFoundError('route');
  }
  if (error instanceof SyntaxError) return new InvalidJsonError();
  const status = error.statusCode;
  if (status === 413) return new PayloadTooLargeError('The request body is too large.');
  if (status === 404) return new NotFoundError('route');
  if (status !== undefined && status >= 400 && status < 500) {
    return new ValidationError(error.message);
  }
  return new ApiError(500, 'internal_error', 'Something went wrong on our side.');
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (not HTTP, malformed headers,
 * headers too large, too slow): answered in the SPEC §5 shape too, then the connection closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'The request headers are too large.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'The request was not received in time.']
        : [400, 'Bad Request', 'The request is not valid HTTP/1.1.'];
  const body = JSON.stringify({ error: { code: 'validation_error', message } });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}
