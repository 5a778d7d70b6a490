/** The CLI's client for a running service: JSON in and out, API errors as one line. */
import { CliError } from './output.js';

export interface ClientOptions {
  url: string;
  apiKey: string;
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
}

export async function request<T>(
  opts: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const base = opts.url.replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${opts.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    throw new CliError(
      `cannot reach the service at ${base} (is it running? start it with \`npm start\`, or pass --url)`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as ApiErrorBody | undefined)?.error;
    if (!e) throw new CliError(`${method} ${path} answered ${res.status}`);
    const details = e.details?.length
      ? ` (${e.details.map((d) => `${d.path} ${d.message}`).join('; ')})`
      : '';
    throw new CliError(`${e.code}: ${e.message}${details}`);
  }
  return json as T;
}
