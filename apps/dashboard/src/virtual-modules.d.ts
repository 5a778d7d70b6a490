/** `event-validators.ts`: the catalog's validators, compiled at build time. */
declare module 'virtual:event-validators' {
  import type { ValidateFunction } from 'ajv/dist/2020.js';
  export const validators: Readonly<Record<string, ValidateFunction>>;
}
