/**
 * The messages between the service's thread (`index.ts`) and the SQLite store's thread
 * (`worker.ts`). A call is a Store method name and its arguments; the answer is the method's
 * value or its error. Everything crosses by structured clone: the Store's data is plain (rows,
 * arrays, numbers, strings), so nothing needs converting but errors, whose own properties
 * (`code`) a clone would drop.
 */
import type { FusedCompleteClaim, StoreWarmUp } from '../capabilities.js';
import type { Store } from '../types.js';

/** A Store method, or one of the optional capabilities the SQLite store has. */
export type StoreMethod = keyof (Store & FusedCompleteClaim & StoreWarmUp);

/** What the thread opens, given at its start (`workerData`). */
export interface StoreThreadData {
  path: string;
}

export interface StoreCall {
  id: number;
  method: StoreMethod;
  args: unknown[];
}

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export type StoreAnswer = { id: number; value: unknown } | { id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err.stack === undefined ? {} : { stack: err.stack }),
  };
}

/** The error again on this side, with the same `name`, `message` and `code` as in the thread. */
export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
