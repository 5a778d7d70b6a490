/**
 * Request bodies: JSON with a bounded nesting depth, and Ajv validators whose error lists stay
 * bounded whatever the body.
 */
import type { ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';

/**
 * The deepest nesting of objects and arrays a request body may have, the outer object counted:
 * event `data` sits one level below it (three in a batch), so it may nest about 60 levels. The
 * catalog's own schemas need fewer than ten; a deeper document is an attack or a bug, and the
 * service serializes (JSON.stringify) and hashes bodies recursively, which a deep enough
 * document overflows.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The request body limit of a route that carries one event's `data` (`POST /v1/events`, the test
 * action), sized from the data's cap `AF_MAX_PAYLOAD` and never under 1 MiB, so that data over the
 * cap reaches the size check and its 413 with the path instead of the parser's bare refusal.
 */
export function eventBodyLimit(maxPayloadBytes: number): number {
  return Math.max(1024 * 1024, maxPayloadBytes * 2 + 64 * 1024);
}

/** True when `text` nests objects/arrays deeper than `max` (one linear pass, no recursion). */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

/**
 * Replaces Fastify's JSON parser with one that first refuses documents nested deeper than
 * `MAX_JSON_DEPTH` (400 `validation_error`), then parses as Fastify does (`__proto__` and
 * `constructor.prototype` keys refused).
 */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    // No body with a JSON content type (many clients send the header on every request, DELETE
    // included) is no body: a route that needs one says so through its schema.
    if (text.trim() === '' && (request.method === 'DELETE' || request.method === 'GET')) {
      done(null, undefined);
      return;
    }
    if (jsonTooDeep(text, MAX_JSON_DEPTH)) {
      done(
        ValidationError.field(
          '/',
          `the JSON document is nested too deep: at most ${MAX_JSON_DEPTH} levels of objects and arrays`,
        ),
        undefined,
      );
      return;
    }
    parse(request, text, done);
  });
}

/** Bodies with at most this many values get every error; larger ones the first only. */
const ALL_ERRORS_MAX_NODES = 2000;

/** True when `value` holds more than `max` values (objects, arrays and scalars), counted iteratively. */
function moreNodesThan(value: unknown, max: number): boolean {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > max) return true;
    if (v !== null && typeof v === 'object') {
      for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
    }
  }
  return false;
}

/**
 * One validator from two compilations of a schema: `first` stops at the first error, `all`
 * collects every error. Ajv cannot stop after N errors, and with every error collected a
 * 5 MB batch of unknown fields makes hundreds of thousands of them; so a failing body is checked
 * again for all its errors only when it is small (`ALL_ERRORS_MAX_NODES` values), and a large
 * one reports its first error.
 */
export function boundedValidator(first: ValidateFunction, all: ValidateFunction) {
  const validate = (data: unknown, ctx?: object): boolean => {
    if ((first as (d: unknown, c?: object) => boolean)(data, ctx)) {
      validate.errors = null;
      return true;
    }
    if (!moreNodesThan(data, ALL_ERRORS_MAX_NODES)) {
      (all as (d: unknown, c?: object) => boolean)(data, ctx);
      validate.errors = all.errors ?? first.errors ?? null;
    } else {
      validate.errors = first.errors ?? null;
    }
    return false;
  };
  validate.errors = null as ValidateFunction['errors'];
  // Fastify passes the parent object when the compiled function says it may replace the root.
  if ('schemaEnv' in first) Object.assign(validate, { schemaEnv: first.schemaEnv });
  return validate;
}
