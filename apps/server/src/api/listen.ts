/**
 * The account's listen secret (SPEC §5): the `whsec_…` secret that `listen` and the
 * CLI's `tester` sign and verify with. One per account, created on the first read, the same on
 * every later read until rotated; encrypted at rest like the webhooks' secrets. Account keys only.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { generateSecret } from '../security/secrets.js';
import { accountOf } from './auth.js';
import type { AppDeps } from './deps.js';
import { errorResponses } from './schemas.js';

const tags = ['listen'];

export const ListenSecretSchema = Type.Object({
  secret: Type.String({ description: '`whsec_` + base64 of 32 random bytes.' }),
});

const EmptyBody = Type.Object({}, { additionalProperties: false });

export function listenRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store, cipher } = deps;
  const account = { access: 'account' as const };

  app.get(
    '/v1/listen/secret',
    {
      config: account,
      schema: {
        tags,
        summary: "The account's listen secret",
        description:
          "The secret `listen` and `tester` sign and verify with (`whsec_…`). Created on the account's first call, the same on every later call (concurrent first calls get the same one) until rotated.",
        response: { 200: ListenSecretSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const stored = await store.getListenSecret(accountId);
      if (stored !== null) return { secret: cipher.decrypt(stored) };
      // The first call: one secret wins, even against a concurrent first call.
      const won = await store.setListenSecretIfAbsent(accountId, cipher.encrypt(generateSecret()));
      return { secret: cipher.decrypt(won) };
    },
  );

  app.post<{ Body: Static<typeof EmptyBody> }>(
    '/v1/listen/secret/rotate',
    {
      config: account,
      schema: {
        tags,
        summary: "Rotate the account's listen secret",
        description:
          'A new secret replaces the previous one at once (no grace period: the listen secret signs local forwarding only). Answers the new secret.',
        body: EmptyBody,
        response: { 200: ListenSecretSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const secret = generateSecret();
      await store.rotateListenSecret(accountId, cipher.encrypt(secret));
      return { secret };
    },
  );
}
