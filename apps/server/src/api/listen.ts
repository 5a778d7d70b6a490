/**
 * `listen` (SPEC §5, §7; docs/api.md "Listen sessions"): the account's listen secret, the
 * WebSocket a CLI connects with, and the account's sessions. Account keys only.
 *
 * The secret is the `whsec_…` secret `listen` and the CLI's `tester` sign and verify with: one per
 * account, created on the first read, the same on every later read until rotated; encrypted at
 * rest like the webhooks' secrets. A session's deliveries are sent by the process the socket
 * landed on (`listen/hub.ts`).
 */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { NotFoundError, ValidationError } from '../errors.js';
import { isId } from '../ids.js';
import { type ListenHub, listenSecretOf } from '../listen/hub.js';
import { ConnectQuery, parseEventList } from '../listen/protocol.js';
import { blobContext } from '../security/crypto.js';
import { generateSecret } from '../security/secrets.js';
import type { ListenSessionRow } from '../store/types.js';
import type { AuditRecorder } from './audit.js';
import { accountOf } from './auth.js';
import type { AppDeps } from './deps.js';
import { errorResponses, IdParams } from './schemas.js';
import { rfc3339 } from './serialize.js';

const tags = ['listen'];

export const ListenSecretSchema = Type.Object({
  secret: Type.String({ description: '`whsec_` + base64 of 32 random bytes.' }),
});

const Time = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });
const NullableTime = Type.Union([Time, Type.Null()]);

export const ListenSessionSchema = Type.Object({
  id: Type.String({ description: '`lsn_…`: its deliveries carry it as `webhook_id`.' }),
  name: Type.String(),
  forward_to: Type.String({ description: 'The local URL the CLI forwards to.' }),
  events: Type.Array(Type.String()),
  connected: Type.Boolean(),
  connected_at: NullableTime,
  last_seen_at: NullableTime,
  created_at: Time,
  last_delivery_at: NullableTime,
  last_delivery_status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Null(),
  ]),
});

const EmptyBody = Type.Object({}, { additionalProperties: false });

function sessionAnswer(s: ListenSessionRow): Static<typeof ListenSessionSchema> {
  const time = (ms: number | null) => (ms === null ? null : rfc3339(ms));
  return {
    id: s.id,
    name: s.name,
    forward_to: s.forwardTo,
    events: s.events,
    connected: s.connected,
    connected_at: time(s.connectedAt),
    last_seen_at: time(s.seenAt),
    created_at: rfc3339(s.createdAt),
    last_delivery_at: time(s.lastDeliveryAt),
    last_delivery_status: s.lastDeliveryStatus,
  };
}

/** The connect query's events (`parseEventList`), or the 400 that names the first bad one. */
function connectEvents(text: string | undefined): string[] {
  const { events, problem } = parseEventList(text);
  if (problem !== undefined) throw ValidationError.field('/events', problem);
  return events;
}

function checkForwardTo(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw ValidationError.field('/forward_to', `forward_to must be an absolute URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw ValidationError.field('/forward_to', 'forward_to must be an http:// or https:// URL');
  return text;
}

export function listenRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  hub: ListenHub,
  audit: AuditRecorder,
): void {
  const { store, cipher, clock } = deps;

  app.get(
    '/v1/listen/secret',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: "The account's listen secret",
        description:
          "The secret `listen` and `tester` sign and verify with (`whsec_…`). Created on the account's first call, the same on every later call (concurrent first calls get the same one) until rotated.",
        response: { 200: ListenSecretSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { secret } = await listenSecretOf(store, cipher, accountOf(request));
      await audit.record(request, 'listen_secret.revealed', null);
      return { secret };
    },
  );

  app.post<{ Body: Static<typeof EmptyBody> }>(
    '/v1/listen/secret/rotate',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: "Rotate the account's listen secret",
        description:
          'A new secret replaces the previous one at once (no grace period: the listen secret signs local forwarding only), for every session of the account; a connected `listen` shows the new one when it reconnects. Answers the new secret.',
        body: EmptyBody,
        response: { 200: ListenSecretSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const secret = generateSecret();
      await store.rotateListenSecret(
        accountId,
        cipher.encrypt(secret, blobContext.listenSecret(accountId)),
      );
      await audit.record(request, 'listen_secret.rotated', null);
      return { secret };
    },
  );

  app.get<{ Querystring: ConnectQuery }>(
    '/v1/listen/connect',
    {
      websocket: true,
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Open a listen session (WebSocket)',
        description:
          "Upgrades to a WebSocket that carries the session's deliveries: a `ready` message, then one `delivery` per attempt, each answered by the client with a `result`. Used by `agentfactory-webhooks listen`; the messages are in docs/api.md.",
        querystring: ConnectQuery,
      },
      // Before the upgrade, so that a bad query is an HTTP 400 the CLI can print.
      preHandler: async (request) => {
        checkForwardTo(request.query.forward_to);
        connectEvents(request.query.events);
      },
    },
    (socket, request) => {
      const q = request.query;
      hub
        .accept(socket, accountOf(request), {
          name: q.name,
          forwardTo: q.forward_to,
          events: connectEvents(q.events),
        })
        .catch((err: unknown) => {
          request.log.error({ err }, 'opening a listen session failed');
          socket.close(1011, 'the service could not open the session; try again');
        });
    },
  );

  app.get(
    '/v1/listen/sessions',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags,
        summary: "The account's listen sessions",
        description:
          'Every session, connected or not, newest first. A session not seen for the retry window is deleted with the deliveries that waited for it.',
        response: {
          200: Type.Object({ data: Type.Array(ListenSessionSchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async (request) => {
      const rows = await store.listListenSessions(accountOf(request), clock.now());
      return { data: rows.map(sessionAnswer) };
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/listen/sessions/:id',
    {
      config: { access: 'account', scope: 'full' },
      schema: {
        tags,
        summary: 'Delete a listen session',
        description:
          'Fails the deliveries waiting for it (their log stays); a `listen` connected to it is closed.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const deleted =
        isId('lsn', id) && (await store.deleteListenSession(accountOf(request), id, clock.now()));
      if (!deleted) throw new NotFoundError('listen session');
      hub.dropped(id);
      return reply.code(204).send();
    },
  );
}
