/** The API key lives in sessionStorage: it is kept for this browser tab's session only. */
const storageKey = 'agentfactory.apiKey';

export function loadKey(): string | null {
  try {
    return window.sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}

export function saveKey(key: string): void {
  window.sessionStorage.setItem(storageKey, key);
}

export function clearKey(): void {
  window.sessionStorage.removeItem(storageKey);
}
