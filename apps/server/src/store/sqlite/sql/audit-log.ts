/**
 * The audit log (`Store.appendAudit`, `listAudit`), as `postgres/sql/audit-log.ts` is on
 * PostgreSQL: scoped by account, newest first by id, one row past the page (`pageOf`).
 */
import {
  type AuditEntryRow,
  type AuditFilter,
  type Page,
  type PageQuery,
  pageOf,
} from '../../types.js';
import { json, type Row, type Stmt } from '../rows.js';
import { Where } from './delivery-log.js';

export function appendAudit(stmt: Stmt, e: AuditEntryRow): void {
  stmt(
    `INSERT INTO audit_log (id, account_id, action, actor_key_id, target_id, changes, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    e.id,
    e.accountId,
    e.action,
    e.actorKeyId,
    e.targetId,
    JSON.stringify(e.changes),
    e.createdAt,
  );
}

function toAudit(r: Row): AuditEntryRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    action: r.action as string,
    actorKeyId: (r.actor_key_id as string | null) ?? null,
    targetId: (r.target_id as string | null) ?? null,
    changes: json<Record<string, unknown>>(r.changes, {}),
    createdAt: r.created_at as number,
  };
}

export function listAudit(
  stmt: Stmt,
  accountId: string,
  filter: AuditFilter,
  page: PageQuery,
): Page<AuditEntryRow> {
  const where = new Where(accountId);
  if (filter.action !== undefined) where.add('action = ?', filter.action);
  if (filter.targetId !== undefined) where.add('target_id = ?', filter.targetId);
  if (filter.since !== undefined) where.add('created_at >= ?', filter.since);
  if (filter.until !== undefined) where.add('created_at <= ?', filter.until);
  if (page.cursor) where.add('id < ?', page.cursor);
  const rows = stmt(`SELECT * FROM audit_log WHERE ${where} ORDER BY id DESC LIMIT ?`).all(
    ...where.values,
    page.limit + 1,
  ) as Row[];
  return pageOf(rows.map(toAudit), page.limit);
}
