/**
 * Validates event `data` as `POST /v1/events` and the test action's edited data both need it:
 * the size cap (`AF_MAX_PAYLOAD`), then the catalog's JSON Schemas (draft 2020-12, from the SDK),
 * each compiled once at start. One instance serves every route (`app.ts`).
 */
import { eventSchemas, isEventName } from '@agentfactory/webhooks';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ajvDetails, type ErrorDetail, MAX_DETAILS } from '../errors.js';

// ajv-formats is CommonJS with a `default` export.
const addFormats = addFormatsModule.default;

export class CatalogValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly maxPayloadBytes: number) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    for (const [name, schema] of Object.entries(eventSchemas)) {
      this.validators.set(name, ajv.compile(schema));
    }
  }

  /**
   * Problems of `data` for `event` (paths prefixed with `prefix`): the first `max` as details,
   * and how many there were. Ajv collects every error of one event (bounded by the event's size,
   * `AF_MAX_PAYLOAD`); only `max` are formatted, and the rest are counted and dropped.
   */
  check(
    event: string,
    data: unknown,
    prefix: string,
    max = MAX_DETAILS,
  ): { details: ErrorDetail[]; total: number } {
    if (!isEventName(event))
      return { details: [{ path: prefix, message: 'unknown event type' }], total: 1 };
    const validate = this.validators.get(event)!;
    if (validate(data)) return { details: [], total: 0 };
    const errors = validate.errors ?? [];
    return { details: ajvDetails(errors, prefix, max), total: Math.max(errors.length, 1) };
  }

  /**
   * What is wrong with `data` for a catalog `event`, paths under `dataPath`: over the size cap,
   * or against the schema (at most `max` details formatted); null when nothing is.
   */
  problems(
    event: string,
    data: unknown,
    dataPath: string,
    max = MAX_DETAILS,
  ): { kind: 'too_large' | 'schema'; details: ErrorDetail[]; total: number } | null {
    const size = Buffer.byteLength(JSON.stringify(data), 'utf8');
    if (size > this.maxPayloadBytes) {
      const message = `is ${size} bytes serialized; the limit is ${this.maxPayloadBytes}`;
      return { kind: 'too_large', details: [{ path: dataPath, message }], total: 1 };
    }
    const { details, total } = this.check(event, data, dataPath, max);
    return total > 0 ? { kind: 'schema', details, total } : null;
  }
}
