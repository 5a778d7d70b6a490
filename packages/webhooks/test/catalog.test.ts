import { readFile } from 'node:fs/promises';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { generatedPath, generateTypes } from '../scripts/generate-types.js';
import {
  eventCatalog,
  eventDescriptions,
  eventNames,
  eventSamples,
  eventSchemas,
  isEventName,
} from '../src/index.js';

const SPEC_NAMES = [
  'agent.created',
  'agent.updated',
  'agent.deleted',
  'agent.deployed',
  'agent.undeployed',
  'conversation.started',
  'conversation.message',
  'conversation.ended',
  'usage.threshold',
  'usage.limit',
  'error.occurred',
  'error.resolved',
  'webhook.test',
  'webhook.failing',
  'webhook.disabled',
  'webhook.recovered',
  'webhook.certificate_expiring',
];

function validator() {
  // ajv and ajv-formats are CommonJS with a `default` export.
  const ajv = new Ajv2020.default({ strict: true, allErrors: true });
  addFormats.default(ajv);
  return ajv;
}

describe('event catalog', () => {
  it('has the 17 event types of SPEC §2, in order', () => {
    expect(eventNames).toEqual(SPEC_NAMES);
    expect(eventCatalog.map((e) => e.name)).toEqual(SPEC_NAMES);
    for (const name of SPEC_NAMES) {
      expect(isEventName(name)).toBe(true);
      expect(eventDescriptions[name as keyof typeof eventDescriptions].length).toBeGreaterThan(10);
    }
    expect(isEventName('agent.exploded')).toBe(false);
    expect(isEventName('toString')).toBe(false);
  });

  it('the generated types are up to date (run `npm run generate -w packages/webhooks`)', async () => {
    const onDisk = await readFile(generatedPath, 'utf8');
    expect(onDisk).toBe(await generateTypes());
    expect(onDisk).toContain('DO NOT EDIT');
  });

  const ajv = validator();
  for (const name of SPEC_NAMES) {
    it(`the sample of ${name} validates against its draft 2020-12 schema`, () => {
      const schema = eventSchemas[name as keyof typeof eventSchemas];
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      const validate = ajv.compile(schema);
      const ok = validate(eventSamples[name as keyof typeof eventSamples]);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    });
  }

  it('schemas reject a wrong sample and accept extra properties', () => {
    const validate = ajv.compile(eventSchemas['conversation.message']);
    const sample = eventSamples['conversation.message'];
    expect(validate({ ...sample, message_id: 42 })).toBe(false);
    expect(validate({ ...sample, timestamp: 'yesterday' })).toBe(false);
    const { message: _dropped, ...missing } = sample;
    expect(validate(missing)).toBe(false);
    expect(validate({ ...sample, brand_new_field: true })).toBe(true);
    const usage = ajv.compile(eventSchemas['usage.threshold']);
    expect(usage({ ...eventSamples['usage.threshold'], threshold_percent: 0 })).toBe(false);
    expect(usage({ ...eventSamples['usage.threshold'], threshold_percent: 101 })).toBe(false);
  });
});
