/**
 * Why a delivery verifies or not: the verdict of each signature scheme, given by the SDK's own
 * verify functions, and on failure the likely cause and its fix, found by trying the usual
 * mistakes (a changed secret or body, a missing prefix, a wrong clock, a stripped header). For
 * debugging tools, such as the CLI's `tester` and a signature checker in the browser: a
 * production receiver answers with the code alone, since a cause tells things about the secret.
 *
 * One file past 400 lines on purpose: most of it is the cause and fix texts, one per mistake, and
 * each check reads next to the text it produces. Nothing imports it but those tools, so a
 * receiver's bundle leaves it out.
 */
import { fromBase64, toBase64, toHex, utf8 } from './encoding.js';
import { type VerificationErrorCode, WebhookVerificationError } from './errors.js';
import { getHeader, type HeadersInput } from './headers.js';
import {
  checkBodySignature,
  constructEvent,
  normalizeSecrets,
  type RawBodyInput,
  rawBodyBytes,
  type SecretsInput,
  verifyStandardWebhook,
} from './verify.js';

export interface DiagnoseInput {
  /** The raw body, exactly as received. */
  body: RawBodyInput;
  /** The request headers, as `Headers`, `IncomingHttpHeaders` or a plain object. */
  headers: HeadersInput;
  /** The secret the receiver holds, or several during a rotation. */
  secret: SecretsInput;
  /** The receiver's clock, milliseconds since the epoch. Default `Date.now()`. */
  now?: number;
  /** How far `webhook-timestamp` may be from now, either way, in seconds. Default 300. */
  toleranceSeconds?: number;
}

/** `standard`: the `webhook-*` headers (Standard Webhooks); `body`: `X-AgentFactory-Signature`. */
export type SignatureScheme = 'standard' | 'body';

/** The verdict of one signature scheme. */
export interface SchemeDiagnosis {
  scheme: SignatureScheme;
  /** The headers this scheme reads. */
  headers: readonly string[];
  /** Whether at least one of those headers came with the request. */
  present: boolean;
  ok: boolean;
  /** When ok: which secret matched, as an index into the secrets given. */
  secretIndex?: number;
  /** When not ok: the SDK's verification error code and message. */
  code?: VerificationErrorCode;
  message?: string;
  /** When not ok: what went wrong, as precisely as the request tells, and what to do about it. */
  cause?: string;
  fix?: string;
}

/** The envelope fields found in the body (unverified unless `verified`). */
export interface DiagnosedEnvelope {
  id?: string;
  event?: string;
  timestamp?: string;
  data?: unknown;
}

export interface Diagnosis {
  /** True when `constructEvent` accepts the request with these secrets, clock and tolerance. */
  verified: boolean;
  /**
   * The scheme that decides, as `constructEvent` picks it: `standard` when any `webhook-*` header
   * came, else `body`.
   */
  scheme: SignatureScheme;
  /** When not verified: the code `constructEvent` fails with, its message, the cause and fix. */
  code?: VerificationErrorCode;
  message?: string;
  cause?: string;
  fix?: string;
  standard: SchemeDiagnosis;
  body: SchemeDiagnosis;
  /** The body's envelope fields; undefined when the body is not a JSON object. */
  event: DiagnosedEnvelope | undefined;
}

interface Explanation {
  cause: string;
  fix: string;
}

interface Context {
  raw: Uint8Array;
  /** The body as UTF-8 text; undefined when it is not valid UTF-8. */
  text: string | undefined;
  /** The parsed body; undefined when it is not JSON. */
  json: unknown;
  headers: HeadersInput;
  fields: { id?: string; timestamp?: string; signature?: string };
  bodyHeader: string | undefined;
  secrets: string[];
  now: number;
  tolerance: number;
  /** Whether each scheme's signature matches the body under a secret, the clock left aside. */
  bodySignatureOk: boolean;
  standardSignatureOk: boolean;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const STANDARD_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
const BODY_HEADERS = ['X-AgentFactory-Signature'] as const;
const OTHER_AF_HEADERS = [
  'x-agentfactory-event',
  'x-agentfactory-event-id',
  'x-agentfactory-delivery',
  'x-agentfactory-timestamp',
];
const decoder = new TextDecoder('utf-8', { fatal: true });

const RAW_BODY_FIX =
  'Verify the raw bytes exactly as received, before any JSON parsing (express.raw, `await req.text()`, ' +
  'a raw-body parser), and make sure no proxy or middleware rewrites the body on the way.';
const SECRET_FIX =
  'Copy the secret again, whole, from the dashboard or GET /v1/webhooks/{id}/secret (after a ' +
  'rotation, the new one), and verify the raw body as received.';
const HEADERS_FIX =
  'Let the webhook-id, webhook-timestamp, webhook-signature and X-AgentFactory-* headers reach the ' +
  'receiver unchanged (a proxy, API gateway, load balancer or platform may drop unknown headers); ' +
  'when sending by hand, sign with generateTestHeaders or signPayload.';
const CLOCK_FIX =
  "Check this machine's clock against NTP (`timedatectl status`, `chronyc tracking`, or `date -u` " +
  'beside a time server) and keep NTP running; Agent Factory signs each attempt with its current time.';

/**
 * Diagnoses one request: verifies it as `constructEvent` does, gives each signature scheme's
 * verdict, and for each failure its likely cause and fix, found by trying the usual mistakes
 * (the secret with whitespace, quotes, a `whsec_` prefix missing or extra, base64- or hex-encoded;
 * the body re-serialized, pretty-printed or with changed line endings; a missing `sha256=` or `v1,`
 * prefix; a stale or future timestamp; a stripped header). Never throws for a bad request or
 * secret: those are verdicts.
 *
 * @example
 * const d = await diagnoseRequest({ body: rawBody, headers: req.headers, secret });
 * if (!d.verified) console.warn(d.code, d.cause, d.fix);
 */
export async function diagnoseRequest(input: DiagnoseInput): Promise<Diagnosis> {
  const now = input.now ?? Date.now();
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const headers: HeadersInput = input.headers ?? {};
  const has = (name: string) => getHeader(headers, name) !== undefined;
  const scheme: SignatureScheme = STANDARD_HEADERS.some(has) ? 'standard' : 'body';
  const standardBase = {
    scheme: 'standard',
    headers: STANDARD_HEADERS,
    present: scheme === 'standard',
  } as const;
  const bodyBase = {
    scheme: 'body',
    headers: BODY_HEADERS,
    present: has('x-agentfactory-signature'),
  } as const;

  let raw: Uint8Array;
  try {
    raw = rawBodyBytes(input.body);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    const fix = 'Pass the raw body: a string, Uint8Array or Buffer of the bytes received.';
    const failed = {
      ok: false,
      code: error.code,
      message: error.message,
      cause: error.message,
      fix,
    };
    return {
      verified: false,
      scheme,
      code: error.code,
      message: error.message,
      cause: error.message,
      fix,
      standard: { ...standardBase, ...failed },
      body: { ...bodyBase, ...failed },
      event: undefined,
    };
  }
  const text = decodeUtf8(raw);
  const json = parseJson(text);
  const event = envelopeOf(json);

  let secrets: string[];
  try {
    secrets = normalizeSecrets(input.secret);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    const { cause, fix } = await explainInvalidSecret(input.secret, error.message, {
      raw,
      headers,
    });
    const failed = { ok: false, code: error.code, message: error.message, cause, fix };
    return {
      verified: false,
      scheme,
      code: error.code,
      message: error.message,
      cause,
      fix,
      standard: { ...standardBase, ...failed },
      body: { ...bodyBase, ...failed },
      event,
    };
  }

  const fields = {
    id: getHeader(headers, 'webhook-id'),
    timestamp: getHeader(headers, 'webhook-timestamp'),
    signature: getHeader(headers, 'webhook-signature', ' '),
  };
  const bodyHeader = getHeader(headers, 'x-agentfactory-signature', ',');
  const ctx: Context = {
    raw,
    text,
    json,
    headers,
    fields,
    bodyHeader,
    secrets,
    now,
    tolerance,
    bodySignatureOk: (await matchingSecret(secrets, (s) => bodyMatches(raw, bodyHeader, s))) >= 0,
    standardSignatureOk:
      (await matchingSecret(secrets, (s) => standardMatches(raw, fields, s))) >= 0,
  };

  const standard = await verdict(standardBase, ctx, async () => {
    await verifyStandardWebhook(raw, headers, secrets, {
      now: () => now,
      toleranceSeconds: tolerance,
    });
    return matchingSecret(secrets, (s) => standardMatches(raw, fields, s));
  });
  const body = await verdict(bodyBase, ctx, async () => {
    await checkBodySignature(raw, bodyHeader, secrets);
    return matchingSecret(secrets, (s) => bodyMatches(raw, bodyHeader, s));
  });

  try {
    await constructEvent(raw, headers, secrets, { now: () => now, toleranceSeconds: tolerance });
    return { verified: true, scheme, standard, body, event };
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    const deciding = scheme === 'standard' ? standard : body;
    let explained: Explanation;
    if (error.code === 'invalid_payload') {
      explained = {
        cause: `The signature is valid, but ${error.message.replace(/^The body/, 'the body')}`,
        fix: 'Send the envelope as Agent Factory does: {"id","event","timestamp","data"} as JSON.',
      };
    } else if (!standard.present && !body.present) {
      explained = explainMissing(
        ctx,
        [...STANDARD_HEADERS, ...BODY_HEADERS],
        'No signature header came',
      );
    } else if (deciding.code === error.code && deciding.cause && deciding.fix) {
      explained = { cause: deciding.cause, fix: deciding.fix };
    } else {
      explained = { cause: error.message, fix: SECRET_FIX };
    }
    return {
      verified: false,
      scheme,
      code: error.code,
      message: error.message,
      ...explained,
      standard,
      body,
      event,
    };
  }
}

async function verdict(
  base: { scheme: SignatureScheme; headers: readonly string[]; present: boolean },
  ctx: Context,
  verify: () => Promise<number>,
): Promise<SchemeDiagnosis> {
  try {
    const index = await verify();
    return { ...base, ok: true, ...(index >= 0 ? { secretIndex: index } : {}) };
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    const explain = base.scheme === 'standard' ? explainStandard : explainBody;
    const { cause, fix } = await explain(ctx, error.code);
    return { ...base, ok: false, code: error.code, message: error.message, cause, fix };
  }
}

// ---- matching, through the SDK's verify functions --------------------------------------------

/** The index of the first secret for which `matches` holds, or -1. */
async function matchingSecret(
  secrets: readonly string[],
  matches: (secret: string) => Promise<boolean>,
): Promise<number> {
  for (let i = 0; i < secrets.length; i++) if (await matches(secrets[i]!)) return i;
  return -1;
}

/** Whether `header` holds a `sha256=` signature of `body` under `secret` (any string). */
function bodyMatches(
  body: Uint8Array,
  header: string | undefined,
  secret: string,
): Promise<boolean> {
  if (header === undefined || secret === '') return Promise.resolve(false);
  return checkBodySignature(body, header, [secret]).then(
    () => true,
    () => false,
  );
}

/** Whether the `webhook-*` fields hold a signature of `body` under `secret`, the clock left aside. */
function standardMatches(
  body: Uint8Array,
  fields: Context['fields'],
  secret: string,
): Promise<boolean> {
  if (!fields.id || !fields.timestamp || !fields.signature || secret === '') {
    return Promise.resolve(false);
  }
  const headers = {
    'webhook-id': fields.id,
    'webhook-timestamp': fields.timestamp,
    'webhook-signature': fields.signature,
  };
  return verifyStandardWebhook(body, headers, secret, {
    toleranceSeconds: Number.POSITIVE_INFINITY,
  }).then(
    () => true,
    () => false,
  );
}

// ---- the usual mistakes ----------------------------------------------------------------------

interface SecretVariant extends Explanation {
  secret: string;
}

function secretLabel(index: number, count: number): string {
  return count > 1 ? `Secret #${index + 1}` : 'Your secret';
}

/** What the sender's secret may be, given the one the receiver holds, and how each came about. */
function secretVariants(secret: string, label: string): SecretVariant[] {
  const out: SecretVariant[] = [];
  const add = (candidate: string, cause: string, fix: string) => {
    if (candidate && candidate !== secret && !out.some((v) => v.secret === candidate)) {
      out.push({ secret: candidate, cause, fix });
    }
  };
  const trimmed = secret.trim();
  if (trimmed !== secret) {
    add(
      trimmed,
      `${label} has ${describeWhitespace(secret)} around it; trimmed, it matches the signature.`,
      'Trim the secret: secrets never contain whitespace (a newline often comes from a .env file, `echo` or a copy-paste).',
    );
  }
  const unquoted = /^(["'`])(.+)\1$/.exec(trimmed)?.[2];
  if (unquoted) {
    add(
      unquoted,
      `${label} is wrapped in quotes, and they are part of the string you use; without them, it matches the signature.`,
      'Remove the quotes (a .env loader, a YAML or JSON file, or a shell kept them).',
    );
  }
  const base = unquoted ?? trimmed;
  if (base.startsWith('whsec_')) {
    add(
      base.slice('whsec_'.length),
      `${label} starts with "whsec_", but the sender's secret does not: without the prefix, it matches the signature.`,
      'Use the secret exactly as it was set on the webhook: only generated secrets start with whsec_, and a prefix must not be added to your own.',
    );
  } else {
    add(
      `whsec_${base}`,
      `${label} lacks the "whsec_" prefix: with it, it matches the signature.`,
      'Use the whole secret, whsec_ included: the prefix is part of the key of X-AgentFactory-Signature, and says that the rest is the base64 key of webhook-signature.',
    );
  }
  const decoded = decodeBase64Text(base);
  if (decoded !== undefined) {
    add(
      decoded.trim(),
      `${label} is the base64 encoding of the sender's secret: decoded, it matches the signature.`,
      "Use the decoded value: a Kubernetes Secret's data field, `echo … | base64` or a secrets manager encoded it once more.",
    );
  }
  const rest = base.startsWith('whsec_') ? base.slice('whsec_'.length) : undefined;
  if (rest !== undefined) {
    const standard = rest.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    const padded = standard + '='.repeat((4 - (standard.length % 4)) % 4);
    const how = /[-_]/.test(rest)
      ? 'in the URL-safe base64 alphabet (- and _)'
      : 'without its = padding';
    add(
      `whsec_${padded}`,
      `${label} was re-encoded ${how}; in standard base64, it matches the signature.`,
      'Use the secret exactly as shown when the webhook was created: whsec_ followed by standard base64 with its padding.',
    );
  }
  const hex = rest ?? base;
  if (/^(?:[0-9a-fA-F]{2}){16,64}$/.test(hex)) {
    add(
      `whsec_${toBase64(hexToBytes(hex))}`,
      `${label} holds the key in hex; as whsec_ followed by the same key in base64, it matches the signature.`,
      'Use the secret as shown when the webhook was created (whsec_ + base64), not the key re-encoded.',
    );
  }
  return out;
}

interface BodyVariant extends Explanation {
  bytes: Uint8Array;
}

/** What the sender may have signed, given the body received, and how the body was changed. */
function bodyVariants(ctx: Context): BodyVariant[] {
  const text = ctx.text;
  if (text === undefined) return [];
  const out: BodyVariant[] = [];
  const seen = new Set([text]);
  const add = (candidate: string, how: string) => {
    if (!seen.has(candidate)) {
      seen.add(candidate);
      out.push({
        bytes: utf8(candidate),
        cause: `The body was changed between the sender and this receiver: the signature matches it ${how}. It was re-serialized or rewritten on the way (a JSON body parser then JSON.stringify, a proxy, a logging middleware).`,
        fix: RAW_BODY_FIX,
      });
    }
  };
  // The smallest changes first: a compact body that gained a newline also matches its compact
  // re-serialization, and the newline is the more precise cause.
  if (/\r?\n$/.test(text))
    add(text.replace(/\r?\n$/, ''), 'without its trailing newline, which was added on the way');
  else add(`${text}\n`, 'with a trailing newline, which was removed on the way');
  if (text.includes('\r\n'))
    add(text.replace(/\r\n/g, '\n'), 'with LF line endings, which were converted to CRLF');
  else if (text.includes('\n'))
    add(text.replace(/\n/g, '\r\n'), 'with CRLF line endings, which were converted to LF');
  if (text.trim() !== text)
    add(text.trim(), 'without the whitespace around it, which was added on the way');
  if (ctx.json !== undefined) {
    add(
      JSON.stringify(ctx.json),
      'as compact JSON (the way Agent Factory sends it), but it arrived formatted differently',
    );
    add(
      JSON.stringify(ctx.json, null, 2),
      'as JSON pretty-printed with 2 spaces, but it arrived formatted differently',
    );
    add(
      JSON.stringify(ctx.json, null, 4),
      'as JSON pretty-printed with 4 spaces, but it arrived formatted differently',
    );
    add(
      pythonJson(ctx.json),
      'with Python\'s default JSON separators (", " and ": "), but it arrived formatted differently',
    );
  }
  return out;
}

// ---- explanations ------------------------------------------------------------------------------

async function explainStandard(ctx: Context, code: VerificationErrorCode): Promise<Explanation> {
  const { timestamp, signature } = ctx.fields;
  switch (code) {
    case 'missing_header': {
      const missing = STANDARD_HEADERS.filter((n) => !ctx.fields[fieldOf(n)]);
      const present = STANDARD_HEADERS.filter((n) => ctx.fields[fieldOf(n)]);
      if (present.length === 0) {
        const only = ctx.bodyHeader
          ? ' Only X-AgentFactory-Signature came, which binds no timestamp (no replay protection); Agent Factory always sends both.'
          : '';
        return explainMissing(ctx, missing, 'No webhook-* header came', only);
      }
      const alone = ctx.bodySignatureOk
        ? ' X-AgentFactory-Signature alone verifies, but the SDK checks the webhook-* headers whenever one of them is present.'
        : '';
      return explainMissing(
        ctx,
        missing,
        `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing, while ${present.join(' and ')} came`,
        alone,
      );
    }
    case 'invalid_timestamp':
      return explainInvalidTimestamp(timestamp ?? '');
    case 'timestamp_too_old':
    case 'timestamp_too_new':
      return explainStaleness(ctx, code);
    case 'invalid_signature_format':
      return explainStandardFormat(ctx, signature ?? '');
    case 'signature_mismatch':
      return explainMismatch(ctx, 'standard');
    default:
      return { cause: code, fix: SECRET_FIX };
  }
}

async function explainBody(ctx: Context, code: VerificationErrorCode): Promise<Explanation> {
  switch (code) {
    case 'missing_header': {
      const also = ctx.standardSignatureOk
        ? ' The webhook-* headers verify, so receivers that use them (this SDK does when they are present) are not affected.'
        : '';
      return explainMissing(ctx, BODY_HEADERS, 'X-AgentFactory-Signature is missing', also);
    }
    case 'invalid_signature_format':
      return explainBodyFormat(ctx, ctx.bodyHeader ?? '');
    case 'signature_mismatch':
      return explainMismatch(ctx, 'body');
    default:
      return { cause: code, fix: SECRET_FIX };
  }
}

function explainMissing(
  ctx: Context,
  missing: readonly string[],
  what: string,
  extra = '',
): Explanation {
  const afHeaders = OTHER_AF_HEADERS.filter((n) => getHeader(ctx.headers, n) !== undefined);
  const userAgent = getHeader(ctx.headers, 'user-agent');
  let why: string;
  if (afHeaders.length > 0 || ctx.bodyHeader !== undefined || ctx.fields.id !== undefined) {
    why =
      'Other Agent Factory headers did arrive, so the missing ones were most likely stripped on the way: a proxy, API gateway, load balancer or platform that forwards only the headers it knows may strip them.';
  } else {
    why = `None of Agent Factory's headers came (User-Agent: ${userAgent ? JSON.stringify(userAgent.slice(0, 60)) : 'none'}): is this request from Agent Factory? If it is, a proxy may strip them.`;
  }
  const list = missing.length > 1 ? ` (missing: ${missing.join(', ')})` : '';
  return { cause: `${what}${list}.${extra} ${why}`, fix: HEADERS_FIX };
}

function explainInvalidTimestamp(value: string): Explanation {
  const v = value.trim();
  const fix =
    'webhook-timestamp must be the unix time in whole seconds, digits only, e.g. Math.floor(Date.now() / 1000): Agent Factory sends that; check whatever built or changed this request.';
  let what: string;
  if (/^-\d+$/.test(v)) what = 'is negative';
  else if (/^\d+\.\d+$/.test(v)) what = 'has a fractional part; it takes whole seconds';
  else if (/\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v)))
    what = 'is a date (ISO 8601), not unix seconds';
  else if (/^\d{16,}$/.test(v)) what = 'has too many digits for unix seconds';
  else what = 'is not unix seconds (digits only)';
  return { cause: `webhook-timestamp ${JSON.stringify(v.slice(0, 40))} ${what}.`, fix };
}

async function explainStaleness(
  ctx: Context,
  code: 'timestamp_too_old' | 'timestamp_too_new',
): Promise<Explanation> {
  const ts = (ctx.fields.timestamp ?? '').trim();
  const nowSeconds = Math.floor(ctx.now / 1000);
  const offset = Math.abs(nowSeconds - Number(ts));
  const tolerance = `the ${formatDuration(ctx.tolerance)} tolerance`;
  let signature = ' Its signature is otherwise valid.';
  let signatureFix = '';
  if (!ctx.standardSignatureOk) {
    const mismatch = await explainMismatch(ctx, 'standard');
    signature = ` Its signature does not match either: ${mismatch.cause}`;
    signatureFix = ` And for the signature: ${mismatch.fix}`;
  }
  if (code === 'timestamp_too_new' && ts.length >= 13) {
    return {
      cause: `webhook-timestamp ${ts} looks like milliseconds: it must be unix seconds (10 digits today).${signature}`,
      fix: `Sign with the unix time in seconds (Math.floor(Date.now() / 1000)), as Agent Factory does: check whatever built this request.${signatureFix}`,
    };
  }
  const hours = Math.round(offset / 3600);
  const zone =
    hours >= 1 && hours <= 14 && Math.abs(offset - hours * 3600) <= 120
      ? ` An offset of almost exactly ${hours} h suggests a time-zone mistake: a clock set to local time but read as UTC.`
      : '';
  const clocks = `this machine's (now ${isoSeconds(nowSeconds)}) or the sender's (signed at ${isoSeconds(Number(ts))})`;
  if (code === 'timestamp_too_old') {
    return {
      cause: `webhook-timestamp is ${formatDuration(offset)} old, beyond ${tolerance}. Either this is a replay — an old request sent again (saved and re-posted, e.g. with curl), which is what this check refuses — or a clock is wrong: ${clocks}.${zone}${signature}`,
      fix: `If you re-sent a saved request, sign it again (generateTestHeaders) or send a test event from the dashboard instead. Otherwise it is clock skew. ${CLOCK_FIX}${signatureFix}`,
    };
  }
  return {
    cause: `webhook-timestamp is ${formatDuration(offset)} in the future, beyond ${tolerance}. A request cannot be signed in the future: a clock is wrong, ${clocks}.${zone}${signature}`,
    fix: `${CLOCK_FIX}${signatureFix}`,
  };
}

async function explainBodyFormat(ctx: Context, header: string): Promise<Explanation> {
  const entries = header
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const first = entries[0] ?? '';
  const expected =
    'X-AgentFactory-Signature must be "sha256=" followed by 64 hex digits (several separated by commas during a rotation)';
  const anyMatch = (values: string[]) =>
    matchingSecret(ctx.secrets, async (s) => {
      for (const v of values) if (await bodyMatches(ctx.raw, v, s)) return true;
      return false;
    }).then((i) => i >= 0);
  const matchNote = (ok: boolean) =>
    ok ? ' The digest itself matches this body under your secret: only the format is wrong.' : '';
  const bare = entries.filter((e) => /^[0-9a-fA-F]{64}$/.test(e));
  if (bare.length > 0) {
    const ok = await anyMatch(bare.map((e) => `sha256=${e}`));
    return {
      cause: `X-AgentFactory-Signature is a bare hex digest, without the "sha256=" prefix.${matchNote(ok)}`,
      fix: 'The value is "sha256=" + the hex digest: a sender must write the prefix; a receiver comparing by hand must compare the whole value including sha256= with "sha256=" + its own digest (or strip sha256= from the header first), never a bare digest with the whole header.',
    };
  }
  if (/^sha256=\S+\s+sha256=/i.test(first)) {
    const ok = await anyMatch(first.split(/\s+/));
    return {
      cause: `X-AgentFactory-Signature holds several signatures separated by spaces; they are separated by commas.${matchNote(ok)}`,
      fix: 'Join several signatures with commas: sha256=<new>,sha256=<old>.',
    };
  }
  if (/^v1[,=]/.test(header.trim())) {
    return {
      cause:
        'X-AgentFactory-Signature holds a Standard Webhooks signature ("v1,…"): it belongs in webhook-signature.',
      fix: `${expected}, the HMAC-SHA256 of the raw body under the UTF-8 bytes of the whole secret.`,
    };
  }
  const algorithm = /^(sha1|sha512|sha384|md5)=/i.exec(first)?.[1];
  if (algorithm) {
    return {
      cause: `X-AgentFactory-Signature uses ${algorithm}; Agent Factory signs with HMAC-SHA256 only.`,
      fix: `${expected}.`,
    };
  }
  const prefixed = /^sha256=(.*)$/i.exec(first);
  if (prefixed && !first.startsWith('sha256=')) {
    const ok = await anyMatch([`sha256=${prefixed[1]}`]);
    return {
      cause: `X-AgentFactory-Signature's prefix is "${first.slice(0, 7)}"; it is lowercase "sha256=".${matchNote(ok)}`,
      fix: `${expected}.`,
    };
  }
  if (prefixed) {
    const digest = prefixed[1]!;
    const bytes = fromBase64(digest);
    if (bytes?.length === 32) {
      const ok = await anyMatch([`sha256=${toHex(bytes)}`]);
      return {
        cause: `X-AgentFactory-Signature's digest is base64; it is hex.${matchNote(ok)}`,
        fix: `${expected} (hex, lowercase), not base64.`,
      };
    }
    if (/^[0-9a-fA-F]*$/.test(digest)) {
      return {
        cause: `X-AgentFactory-Signature's digest has ${digest.length} hex digits instead of 64: it was cut short (or padded) on the way.`,
        fix: `${expected}; check that nothing truncates header values.`,
      };
    }
    return {
      cause: 'X-AgentFactory-Signature\'s digest after "sha256=" is not hex.',
      fix: `${expected}.`,
    };
  }
  return { cause: `${expected}; it is not.`, fix: `${expected}.` };
}

async function explainStandardFormat(ctx: Context, header: string): Promise<Explanation> {
  const entries = header.split(/\s+/).filter(Boolean);
  const first = entries[0] ?? '';
  const expected =
    'webhook-signature holds "v1," + the base64 HMAC-SHA256, several separated by spaces during a rotation';
  const anyMatch = (values: string[]) =>
    matchingSecret(ctx.secrets, async (s) => {
      for (const v of values)
        if (await standardMatches(ctx.raw, { ...ctx.fields, signature: v }, s)) return true;
      return false;
    }).then((i) => i >= 0);
  const matchNote = (ok: boolean) =>
    ok
      ? ' The signature itself matches this request under your secret: only the format is wrong.'
      : '';
  if (/^v1,[^,]+,v1,/.test(first)) {
    const values = first.split(/,(?=v1,)/);
    const ok = await anyMatch([values.join(' ')]);
    return {
      cause: `webhook-signature holds several signatures separated by commas; they are separated by spaces.${matchNote(ok)}`,
      fix: 'Join several signatures with spaces: "v1,<new> v1,<old>".',
    };
  }
  if (fromBase64(first)?.length === 32) {
    const ok = await anyMatch(entries.map((e) => `v1,${e}`));
    return {
      cause: `webhook-signature is a bare base64 digest, without the "v1," prefix.${matchNote(ok)}`,
      fix: `${expected}: prefix each digest with "v1,".`,
    };
  }
  if (first.startsWith('v1=')) {
    const ok = await anyMatch(entries.map((e) => e.replace(/^v1=/, 'v1,')));
    return {
      cause: `webhook-signature's entries start with "v1="; the version is followed by a comma: "v1,".${matchNote(ok)}`,
      fix: `${expected}.`,
    };
  }
  if (/^sha256=/i.test(first)) {
    return {
      cause:
        'webhook-signature holds a "sha256=" body signature: it belongs in X-AgentFactory-Signature.',
      fix: `${expected}, computed over "{webhook-id}.{webhook-timestamp}.{body}".`,
    };
  }
  if (first.startsWith('v1a,')) {
    return {
      cause:
        'webhook-signature holds only "v1a," (asymmetric) signatures; Agent Factory signs with "v1," (HMAC-SHA256).',
      fix: `${expected}.`,
    };
  }
  if (first.startsWith('v1,')) {
    const digest = first.slice(3);
    if (/^[0-9a-fA-F]{64}$/.test(digest)) {
      const ok = await anyMatch([`v1,${toBase64(hexToBytes(digest))}`]);
      return {
        cause: `webhook-signature's digest is hex; it is base64.${matchNote(ok)}`,
        fix: `${expected} (base64, not hex).`,
      };
    }
    const standard = digest.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    const padded = standard + '='.repeat((4 - (standard.length % 4)) % 4);
    if (padded !== digest && fromBase64(padded)?.length === 32) {
      const ok = await anyMatch([`v1,${padded}`]);
      return {
        cause: `webhook-signature's digest is URL-safe or unpadded base64; it is standard base64 with padding.${matchNote(ok)}`,
        fix: `${expected}.`,
      };
    }
    const bytes = fromBase64(digest);
    if (bytes) {
      return {
        cause: `webhook-signature's digest decodes to ${bytes.length} bytes instead of 32: it was cut short or changed on the way.`,
        fix: `${expected}; check that nothing truncates header values.`,
      };
    }
  }
  return { cause: `${expected}; it does not.`, fix: `${expected}.` };
}

async function explainMismatch(ctx: Context, scheme: SignatureScheme): Promise<Explanation> {
  const matches = (bytes: Uint8Array, secret: string) =>
    scheme === 'body'
      ? bodyMatches(bytes, ctx.bodyHeader, secret)
      : standardMatches(bytes, ctx.fields, secret);
  if (ctx.raw.length === 0) {
    return {
      cause:
        'The body is empty, so no signature can match: something consumed it before verification (most often a JSON body parser that ran first).',
      fix: RAW_BODY_FIX,
    };
  }
  if (ctx.text === '[object Object]') {
    return {
      cause:
        'The body is the text "[object Object]": a parsed object was turned into a string instead of passing the raw bytes.',
      fix: RAW_BODY_FIX,
    };
  }
  for (const [i, secret] of ctx.secrets.entries()) {
    for (const variant of secretVariants(secret, secretLabel(i, ctx.secrets.length))) {
      if (await matches(ctx.raw, variant.secret)) return variant;
    }
  }
  for (const variant of bodyVariants(ctx)) {
    for (const secret of ctx.secrets) if (await matches(variant.bytes, secret)) return variant;
  }
  if (scheme === 'standard') {
    const found = await explainStandardHeaders(ctx);
    if (found) return found;
  } else if (ctx.standardSignatureOk) {
    return {
      cause:
        'webhook-signature matches this body under your secret, so the secret and the body are right: X-AgentFactory-Signature was computed differently or changed on the way.',
      fix: 'X-AgentFactory-Signature is "sha256=" + the hex HMAC-SHA256 of the raw body, keyed with the UTF-8 bytes of the whole secret, whsec_ included: check whatever built this request.',
    };
  }
  const count =
    scheme === 'body'
      ? (ctx.bodyHeader ?? '').split(',').filter((e) => e.trim()).length
      : (ctx.fields.signature ?? '').split(/\s+/).filter((e) => e.startsWith('v1,')).length;
  const rotation =
    count > 1
      ? ` The header carries ${count} signatures: the webhook's secret is being rotated, and your secret matches none of them.`
      : '';
  const yours =
    ctx.secrets.length > 1 ? `any of your ${ctx.secrets.length} secrets` : 'your secret';
  return {
    cause: `No signature matches under ${yours}, and none of the usual mistakes explains it (whitespace or quotes around the secret, the whsec_ prefix, base64 or hex re-encoding, a re-serialized body, changed line endings): most likely it is another secret — another webhook's or environment's, or the previous one after a rotation's grace period ended.${rotation}`,
    fix: SECRET_FIX,
  };
}

/** A standard-scheme mismatch that the body scheme, the other headers or the sender's key explain. */
async function explainStandardHeaders(ctx: Context): Promise<Explanation | undefined> {
  const { id, timestamp } = ctx.fields;
  const eventIds = [getHeader(ctx.headers, 'x-agentfactory-event-id'), envelopeOf(ctx.json)?.id];
  for (const other of eventIds) {
    if (!other || other === id) continue;
    for (const secret of ctx.secrets) {
      if (await standardMatches(ctx.raw, { ...ctx.fields, id: other }, secret)) {
        return {
          cause: `webhook-id (${JSON.stringify(id)}) was changed: the signature matches with the event's id ${JSON.stringify(other)}.`,
          fix: HEADERS_FIX,
        };
      }
    }
  }
  const afTimestamp = getHeader(ctx.headers, 'x-agentfactory-timestamp');
  if (afTimestamp && afTimestamp !== timestamp) {
    for (const secret of ctx.secrets) {
      if (await standardMatches(ctx.raw, { ...ctx.fields, timestamp: afTimestamp }, secret)) {
        return {
          cause: `webhook-timestamp (${timestamp}) was changed: the signature matches with X-AgentFactory-Timestamp (${afTimestamp}).`,
          fix: HEADERS_FIX,
        };
      }
    }
  }
  for (const secret of ctx.secrets) {
    if (!secret.startsWith('whsec_')) continue;
    // A sender that keys webhook-signature with the whole secret's UTF-8 bytes: that key is the
    // standard key of "whsec_" + base64 of those bytes.
    if (await standardMatches(ctx.raw, ctx.fields, `whsec_${toBase64(utf8(secret))}`)) {
      return {
        cause:
          'The sender keyed webhook-signature with the UTF-8 bytes of the whole whsec_ secret; the key is the base64-decoded part after whsec_.',
        fix: 'Fix the sender (or use a Standard Webhooks library to sign): key = base64-decode of the part after whsec_, message = "{webhook-id}.{webhook-timestamp}.{body}".',
      };
    }
  }
  if (ctx.bodySignatureOk) {
    return {
      cause:
        'X-AgentFactory-Signature matches this body under your secret, so the secret and the body are right: webhook-id, webhook-timestamp or webhook-signature was changed on the way, or the sender signs the Standard Webhooks message differently.',
      fix: `webhook-signature is "v1," + the base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}", keyed with the base64-decoded part after whsec_. ${HEADERS_FIX}`,
    };
  }
  return undefined;
}

async function explainInvalidSecret(
  secret: unknown,
  message: string,
  request: { raw: Uint8Array; headers: HeadersInput },
): Promise<Explanation> {
  const list = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? secret : [];
  const fields = {
    id: getHeader(request.headers, 'webhook-id'),
    timestamp: getHeader(request.headers, 'webhook-timestamp'),
    signature: getHeader(request.headers, 'webhook-signature', ' '),
  };
  const bodyHeader = getHeader(request.headers, 'x-agentfactory-signature', ',');
  for (const [i, s] of list.entries()) {
    if (typeof s !== 'string') continue;
    for (const variant of secretVariants(s, secretLabel(i, list.length))) {
      if (
        (await bodyMatches(request.raw, bodyHeader, variant.secret)) ||
        (await standardMatches(request.raw, fields, variant.secret))
      ) {
        return { cause: `${message} ${variant.cause}`, fix: variant.fix };
      }
    }
  }
  return {
    cause: message,
    fix: 'Copy the secret again, whole, from the dashboard or GET /v1/webhooks/{id}/secret: no whitespace, and after whsec_ standard base64 (A–Z, a–z, 0–9, +, /, = padding).',
  };
}

// ---- small helpers -----------------------------------------------------------------------------

function fieldOf(name: (typeof STANDARD_HEADERS)[number]): keyof Context['fields'] {
  return name === 'webhook-id' ? 'id' : name === 'webhook-timestamp' ? 'timestamp' : 'signature';
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function envelopeOf(json: unknown): DiagnosedEnvelope | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  const out: DiagnosedEnvelope = {};
  if (typeof o.id === 'string') out.id = o.id;
  if (typeof o.event === 'string') out.event = o.event;
  if (typeof o.timestamp === 'string') out.timestamp = o.timestamp;
  if ('data' in o) out.data = o.data;
  return out;
}

/** Base64 text that decodes to printable ASCII (a trailing newline allowed), else undefined. */
function decodeBase64Text(text: string): string | undefined {
  if (text.length < 20) return undefined;
  const bytes = fromBase64(text);
  if (!bytes) return undefined;
  const decoded = decodeUtf8(bytes);
  return decoded !== undefined && /^[\x21-\x7e]{16,}\r?\n?$/.test(decoded) ? decoded : undefined;
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Python's `json.dumps` default layout: ", " between items and ": " after keys. */
function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function describeWhitespace(secret: string): string {
  const around =
    secret.slice(0, secret.length - secret.trimStart().length) +
    secret.slice(secret.trimEnd().length);
  if (/\n/.test(around)) return 'a newline';
  if (/\t/.test(around)) return 'a tab';
  return 'spaces';
}

function formatDuration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 120) return `${s} s`;
  const parts = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'min'],
    [s % 60, 's'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString().replace('.000Z', 'Z');
}
