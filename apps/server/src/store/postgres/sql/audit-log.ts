/**
 * The audit log (`Store.appendAudit`, `listAudit`), as `sqlite/sql/audit-log.ts` is on SQLite:
 * scoped by account, newest first by id, one row past the page (`pageOf`). Each filter is a
 * `$n is null or …` condition, so one statement text serves every combination.
 */
import {
  type AuditEntryRow,
  type AuditFilter,
  type Page,
  type PageQuery,
  pageOf,
} from '../../types.js';
import { type Queryable, query } from '../pool.js';
import { auditRow } from '../rows.js';

export async function appendAudit(pool: Queryable, e: AuditEntryRow): Promise<void> {
  await query(
    pool,
    `insert into audit_log (id, account_id, action, actor_key_id, target_id, changes, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [e.id, e.accountId, e.action, e.actorKeyId, e.targetId, JSON.stringify(e.changes), e.createdAt],
  );
}

export async function listAudit(
  pool: Queryable,
  accountId: string,
  filter: AuditFilter,
  page: PageQuery,
): Promise<Page<AuditEntryRow>> {
  const { rows } = await query(
    pool,
    `select * from audit_log
     where account_id = $1 and ($2::text is null or id < $2)
       and ($3::text is null or action = $3)
       and ($4::text is null or target_id = $4)
       and ($5::bigint is null or created_at >= $5)
       and ($6::bigint is null or created_at <= $6)
     order by id desc limit $7`,
    [
      accountId,
      page.cursor ?? null,
      filter.action ?? null,
      filter.targetId ?? null,
      filter.since ?? null,
      filter.until ?? null,
      page.limit + 1,
    ],
  );
  return pageOf(rows.map(auditRow), page.limit);
}
