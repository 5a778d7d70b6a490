/**
 * The `listen` connection's messages (docs/api.md, "Listen sessions"): JSON text frames on one
 * WebSocket, `GET /v1/listen/connect`, opened by the CLI with the account's key. The service
 * sends `ready` once, then one `delivery` per attempt, signed exactly as a webhook's; the CLI
 * POSTs it to its local URL and answers one `result` per delivery. The service never connects to
 * the local URL, so the SSRF guard stays as it is for everyone.
 *
 * Both sides import this file: the service (`listen/hub.ts`) checks every `result` against
 * `ResultMessage` before it becomes an attempt, because the CLI is a client like any other.
 */
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { patternProblem } from '../api/webhook-input.js';
import { BUILT_IN } from '../config.js';

/** Close codes past the standard ones: the CLI stops instead of reconnecting. */
export const CLOSE = {
  /** Another `listen` opened this session, or it was deleted. */
  sessionLost: 4001,
  /** A message the service cannot read: the CLI and service versions disagree. */
  protocol: 1008,
  /** The service is shutting down: the CLI reconnects. */
  goingAway: 1001,
} as const;

/** Query of `GET /v1/listen/connect`. */
export const ConnectQuery = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'The session: `listen` started again with the same name receives what waited for it.',
    }),
    forward_to: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'The local URL the CLI forwards to, shown in the session list.',
    }),
    events: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: 'Comma-separated event names or patterns (`agent.*`, `*`); default `*`.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ConnectQuery = Static<typeof ConnectQuery>;

export interface ReadyMessage {
  type: 'ready';
  session: { id: string; name: string; forward_to: string; events: string[] };
  /** The account's listen secret: every delivery is signed with it. */
  secret: string;
}

export interface DeliveryMessage {
  type: 'delivery';
  delivery_id: string;
  event_id: string;
  event: string;
  attempt: number;
  /** The request's headers, signed, as a webhook receives them. */
  headers: Record<string, string>;
  /** The exact bytes to POST. */
  body: string;
  /** The CLI gives the local server this long (`AF_DELIVERY_TIMEOUT`). */
  timeout_ms: number;
}

/** The network failures a CLI reports (`Sender`'s codes for a request that got no answer). */
const NetworkError = Type.Union([
  Type.Literal('timeout'),
  Type.Literal('connection_refused'),
  Type.Literal('dns_error'),
  Type.Literal('tls_error'),
  Type.Literal('connection_error'),
]);

/** What the local server answered, or why it did not (`Sender`'s result, as the CLI saw it). */
export const ResultMessage = Type.Object({
  type: Type.Literal('result'),
  delivery_id: Type.String({ maxLength: 64 }),
  status_code: Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.Null()]),
  /** Network failures only; an answer's own status decides the rest on the service's side. */
  error: Type.Union([NetworkError, Type.Null()]),
  duration_ms: Type.Integer({ minimum: 0, maximum: 24 * 60 * 60 * 1000 }),
  response_headers: Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }), {
    maxProperties: 100,
  }),
  /** Already capped and encoded as an attempt stores it (`response-body.ts`). */
  response_body: Type.Union([
    Type.String({ maxLength: Math.ceil((BUILT_IN.responseBodyBytes * 4) / 3) + 4 }),
    Type.Null(),
  ]),
  response_body_encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64'), Type.Null()]),
});
export type ResultMessage = Static<typeof ResultMessage>;

/**
 * A connect's `events` (`--events` of the CLI, the `events` query of the service): comma-separated
 * patterns, every event when none; with the first that cannot be subscribed to and why.
 */
export function parseEventList(text: string | undefined): { events: string[]; problem?: string } {
  const events = (text ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (events.length === 0) events.push('*');
  for (const e of events) {
    const problem = patternProblem(e);
    if (problem !== undefined) return { events, problem };
  }
  return { events };
}

const resultCheck = TypeCompiler.Compile(ResultMessage);

/** A frame from the CLI as a `result`, or undefined when it is not one. */
export function parseResult(text: string): ResultMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return resultCheck.Check(value) ? value : undefined;
}
