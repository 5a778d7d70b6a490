/**
 * Validates event `data` against the catalog's JSON Schemas (draft 2020-12, from the SDK), each
 * compiled once at start.
 */
import { eventSchemas, isEventName } from '@agentfactory/webhooks';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ajvDetails, type ErrorDetail } from '../errors.js';

// ajv-formats is CommonJS with a `default` export.
const addFormats = addFormatsModule.default;

export class CatalogValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor() {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    for (const [name, schema] of Object.entries(eventSchemas)) {
      this.validators.set(name, ajv.compile(schema));
    }
  }

  /** Problems of `data` for `event` (paths prefixed with `prefix`), empty when valid. */
  check(event: string, data: unknown, prefix: string): ErrorDetail[] {
    if (!isEventName(event)) return [{ path: prefix, message: 'unknown event type' }];
    const validate = this.validators.get(event)!;
    if (validate(data)) return [];
    return ajvDetails(validate.errors ?? [], prefix);
  }
}
