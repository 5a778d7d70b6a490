/**
 * Generates `src/generated/events.ts` from the catalog's JSON Schemas.
 * Run `npm run generate -w packages/webhooks`; a test fails when the file is out of date.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { eventSchemas } from '../src/catalog/schemas.js';

export const generatedPath = fileURLToPath(new URL('../src/generated/events.ts', import.meta.url));

const HEADER = `/**
 * DO NOT EDIT: generated from src/catalog/schemas.ts by scripts/generate-types.ts.
 * Run \`npm run generate -w packages/webhooks\` after changing a schema.
 */
/* eslint-disable */
`;

function pascal(name: string): string {
  return name
    .split(/[._]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** The generated TypeScript source, as a string. */
export async function generateTypes(): Promise<string> {
  const parts: string[] = [HEADER];
  const entries = Object.entries(eventSchemas);
  for (const [name, schema] of entries) {
    const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
    const ts = await compile(structuredClone(rest) as JSONSchema, pascal(name), {
      bannerComment: '',
      // Schemas allow extra properties, but types name only the documented fields, so a typo
      // in a handler is a compile error rather than an `unknown`.
      additionalProperties: false,
      strictIndexSignatures: true,
      style: { singleQuote: true, printWidth: 100 },
      unknownAny: true,
    });
    parts.push(`/** \`data\` of \`${name}\`. */\n${ts.trim()}\n`);
  }
  const names = entries.map(([name]) => name);
  const titles = entries.map(([, schema]) => (schema as { title: string }).title);
  parts.push(
    `/** Every event type name of the catalog. */\nexport type EventName =\n${names.map((n) => `  | '${n}'`).join('\n')};\n`,
    `/** The \`data\` type of each event, keyed by event name. */\nexport interface EventMap {\n${names.map((n, i) => `  '${n}': ${titles[i]};`).join('\n')}\n}\n`,
    `/** The envelope of one event: \`{ id, event, timestamp, data }\`. */
export interface WebhookEvent<N extends EventName = EventName> {
  /** The event id, \`evt_…\`; the same on every retry: dedupe on it. */
  id: string;
  /** The event type. */
  event: N;
  /** RFC 3339 UTC time when the event was accepted. */
  timestamp: string;
  data: EventMap[N];
}
`,
    `/** Any event of the catalog, discriminated on \`event\`. */\nexport type AgentFactoryEvent = { [N in EventName]: WebhookEvent<N> }[EventName];\n`,
  );
  return parts.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const source = await generateTypes();
  const before = await readFile(generatedPath, 'utf8').catch(() => '');
  if (before !== source) await writeFile(generatedPath, source);
  console.log(before === source ? 'generated types are up to date' : `wrote ${generatedPath}`);
}
