/**
 * `virtual:event-validators`: the catalog's JSON Schemas compiled by Ajv at build time into
 * plain functions (Ajv's standalone code), so the dashboard checks event data without compiling
 * code in the browser. Ajv's runtime compilation uses `new Function`, which the dashboard's
 * Content-Security-Policy (no 'unsafe-eval', `docs/security.md`) refuses. Used by `vite.config.ts`
 * for the build and by the root `vitest.config.ts` for the unit tests.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import standaloneCodeModule from 'ajv/dist/standalone/index.js';
import addFormatsModule from 'ajv-formats';
import { eventSchemas } from '../../packages/webhooks/src/catalog/schemas.js';

const ID = 'virtual:event-validators';
const RESOLVED = `\0${ID}`;

// CommonJS modules: the function is the module or its `default`, depending on the loader.
type Fn<T> = T & { default?: T };
const standaloneCode =
  (standaloneCodeModule as Fn<typeof standaloneCodeModule>).default ?? standaloneCodeModule;
const addFormats = (addFormatsModule as Fn<typeof addFormatsModule>).default ?? addFormatsModule;

/**
 * The module's source: `export const validators = { "agent.created": validateFn, … }`. Ajv's
 * standalone code `require`s its runtime helpers (formats, ucs2length…) even in ESM mode, so
 * each `require("x")` becomes an `import` the bundler resolves.
 */
export function eventValidatorsSource(): string {
  const ajv = new Ajv2020({ allErrors: true, strict: false, code: { source: true, esm: true } });
  addFormats(ajv);
  const names = Object.keys(eventSchemas);
  const exports: Record<string, string> = {};
  names.forEach((name, i) => {
    ajv.addSchema((eventSchemas as Record<string, object>)[name]!, name);
    exports[`v${i}`] = name;
  });
  const imports = new Map<string, string>();
  const code = standaloneCode(ajv, exports).replace(
    /require\("([^"]+)"\)/g,
    (_all, spec: string) => {
      let local = imports.get(spec);
      if (!local) {
        local = `__dep${imports.size}`;
        imports.set(spec, local);
      }
      return local;
    },
  );
  // `require(x)` is x's `module.exports`: under Node's interop that is the namespace's `default`;
  // under the bundler's (for modules marked `__esModule`) the namespace itself.
  const header = [...imports].map(
    ([spec, local]) =>
      `import * as ${local}_ns from ${JSON.stringify(spec)};\n` +
      `const ${local} = ${local}_ns.default && ${local}_ns.default.__esModule ? ${local}_ns.default : ${local}_ns;`,
  );
  const table = names.map((name, i) => `${JSON.stringify(name)}: v${i}`).join(',\n  ');
  return `${header.join('\n')}\n${code.replace(/^"use strict";/, '')}\nexport const validators = {\n  ${table}\n};\n`;
}

/** The Vite (and Vitest) plugin serving `virtual:event-validators`. */
export function eventValidators() {
  return {
    name: 'agentfactory-event-validators',
    resolveId(id: string) {
      return id === ID ? RESOLVED : undefined;
    },
    load(id: string) {
      return id === RESOLVED ? eventValidatorsSource() : undefined;
    },
  };
}
