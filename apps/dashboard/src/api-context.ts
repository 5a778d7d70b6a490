import { createContext, useContext } from 'react';
import type { Api } from './api.js';

export const ApiContext = createContext<Api | null>(null);

/** The API client of the signed-in key. */
export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside a signed-in page');
  return api;
}
