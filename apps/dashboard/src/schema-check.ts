/**
 * Event data checked against the catalog's JSON Schemas (draft 2020-12, from the SDK) with Ajv,
 * as the service checks `POST /v1/events` and the test action's `data`: the same paths and words.
 */
import { eventSchemas } from '@agentfactory/webhooks';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

export interface SchemaProblem {
  /** A JSON pointer into the event, `/data/agent_id`; `/data` for the whole data. */
  path: string;
  message: string;
}

// ajv-formats is CommonJS: its function is the module or its `default`, depending on the bundler
// (and on the TypeScript module setting that types it).
type AddFormats = (ajv: Ajv2020) => unknown;
const formatsModule = addFormatsModule as unknown as AddFormats & { default?: AddFormats };
const addFormats: AddFormats = formatsModule.default ?? formatsModule;

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function validatorFor(event: string): ValidateFunction | undefined {
  const schema = (eventSchemas as Record<string, object | undefined>)[event];
  if (!schema) return undefined;
  let validate = validators.get(event);
  if (!validate) {
    if (!ajv) {
      ajv = new Ajv2020({ allErrors: true, strict: false });
      addFormats(ajv);
    }
    validate = ajv.compile(schema);
    validators.set(event, validate);
  }
  return validate;
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
