/**
 * Event data checked against the catalog's JSON Schemas (draft 2020-12, from the SDK) with Ajv,
 * as the service checks `POST /v1/events` and the test action's `data`: the same paths and words.
 * The validators are compiled when the dashboard is built (`event-validators.ts`), not in the
 * browser: the CSP allows no `eval`.
 */

import { validators } from 'virtual:event-validators';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';

export interface SchemaProblem {
  /** A JSON pointer into the event, `/data/agent_id`; `/data` for the whole data. */
  path: string;
  message: string;
}

function validatorFor(event: string): ValidateFunction | undefined {
  return Object.hasOwn(validators, event)
    ? (validators as Record<string, ValidateFunction>)[event]
    : undefined;
}

/** The problems of `data` for `event`; empty when it is valid. */
export function checkEventData(event: string, data: unknown): SchemaProblem[] {
  const validate = validatorFor(event);
  if (!validate) return [{ path: '/event', message: 'is not a catalog event' }];
  if (validate(data)) return [];
  return (validate.errors ?? []).map(problem);
}

function problem(e: ErrorObject): SchemaProblem {
  let path = `/data${e.instancePath}`;
  let message = e.message ?? 'is invalid';
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required' && typeof p.missingProperty === 'string') {
    path = `${path}/${escapePointer(p.missingProperty)}`;
    message = 'is required';
  } else if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') {
    path = `${path}/${escapePointer(p.additionalProperty)}`;
    message = 'is not a known field';
  } else if (e.keyword === 'enum' && Array.isArray(p.allowedValues)) {
    message = `must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return { path, message };
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}
