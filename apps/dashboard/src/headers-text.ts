/**
 * Request headers pasted as a receiver logged them: `Name: value` lines (an HTTP request line,
 * blank lines and a body after them are skipped), or a JSON object such as Node's `req.headers`.
 */
export type ParsedHeaders =
  | { ok: true; headers: Record<string, string> }
  | { ok: false; error: string };

export function parseHeaderText(text: string): ParsedHeaders {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'Paste the request headers.' };
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      return { ok: false, error: `The headers look like JSON but do not parse: ${message(error)}` };
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      return { ok: false, error: 'The headers as JSON must be an object of names and values.' };
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(json)) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { ok: true, headers };
  }
  const headers: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || /^[A-Z]+ \S+ HTTP\/[\d.]+$/.test(line)) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      return {
        ok: false,
        error: `Line ${i + 1} is not a header (Name: value): ${line.slice(0, 80)}`,
      };
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    // A repeated header is one value, comma-joined, as HTTP defines it.
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { ok: true, headers };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
