/**
 * The audit log (SPEC §5 `GET /v1/audit-log`): every configuration change of an account, with the
 * acting key's id, the time and what changed. `record` is called by the routes after the change
 * is stored; what they pass as `changes` is built from names and non-secret fields only (a
 * secret, a custom header's value or an API key never enters it). The entry is written after
 * the change, not in its transaction: a crash between the two loses the entry, never the change.
 */
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newId } from '../ids.js';
import type { AuditEntryRow, Store } from '../store/types.js';
import { accountOf, actorOf } from './auth.js';
import type { AppDeps } from './deps.js';
import { type Cursors, parseTime } from './query.js';
import { AuditEntrySchema, AuditListQuery, errorResponses, Page } from './schemas.js';
import { rfc3339 } from './serialize.js';

/** The actions, one name each, as `GET /v1/audit-log?action=` filters them. */
export type AuditAction =
  | 'webhook.created'
  | 'webhook.updated'
  | 'webhook.enabled'
  | 'webhook.disabled'
  | 'webhook.deleted'
  | 'webhook.secret_revealed'
  | 'webhook.secret_rotated'
  | 'webhook.recover'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'listen_secret.revealed'
  | 'listen_secret.rotated';

export interface AuditRecorder {
  /** Records a change to the caller's account. */
  record(
    request: FastifyRequest,
    action: AuditAction,
    targetId: string | null,
    changes?: Record<string, unknown>,
  ): Promise<void>;
  /** Records a change made with the admin key to `accountId` (its keys). */
  recordFor(
    accountId: string,
    action: AuditAction,
    targetId: string | null,
    changes?: Record<string, unknown>,
  ): Promise<void>;
}

export function createAuditRecorder(store: Store, now: () => number): AuditRecorder {
  const write = (
    accountId: string,
    actorKeyId: string | null,
    action: AuditAction,
    targetId: string | null,
    changes: Record<string, unknown>,
  ) => {
    const at = now();
    return store.appendAudit({
      id: newId('aud', at),
      accountId,
      action,
      actorKeyId,
      targetId,
      changes,
      createdAt: at,
    });
  };
  return {
    record: (request, action, targetId, changes = {}) =>
      write(accountOf(request), actorOf(request), action, targetId, changes),
    recordFor: (accountId, action, targetId, changes = {}) =>
      write(accountId, null, action, targetId, changes),
  };
}

function serializeAudit(e: AuditEntryRow) {
  return {
    id: e.id,
    action: e.action,
    actor_key_id: e.actorKeyId,
    target_id: e.targetId,
    changes: e.changes,
    created_at: rfc3339(e.createdAt),
  };
}

export function auditRoutes(app: FastifyInstance, deps: AppDeps, cursors: Cursors): void {
  const { store } = deps;
  app.get<{ Querystring: Static<typeof AuditListQuery> }>(
    '/v1/audit-log',
    {
      config: { access: 'account', scope: 'read' },
      schema: {
        tags: ['audit log'],
        summary: "The account's configuration changes, newest first",
        description:
          'Filters: `action` (e.g. `webhook.updated`), `target_id` (the webhook or key changed), `since`, `until`. No entry holds a secret value.',
        querystring: AuditListQuery,
        response: { 200: Page(AuditEntrySchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const q = request.query;
      const page = await store.listAudit(
        accountId,
        {
          action: q.action,
          targetId: q.target_id,
          since: parseTime('/since', q.since),
          until: parseTime('/until', q.until),
        },
        { limit: q.limit ?? 50, cursor: cursors.check('aud', accountId, q.cursor) },
      );
      return {
        data: page.data.map(serializeAudit),
        next_cursor: cursors.issue(accountId, page.nextCursor),
      };
    },
  );
}
