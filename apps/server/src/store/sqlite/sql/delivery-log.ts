/**
 * The delivery log's reads (`Store.getEvent`, `listEvents`, `getDelivery`, `listDeliveries`), as
 * `postgres/sql/delivery-log.ts` is on PostgreSQL: scoped by account, newest first by id (ULIDs
 * sort by time), one row past the page to know whether another page follows (`pageOf`).
 */
import { idBefore } from '../../../ids.js';
import {
  type DeliveryDetail,
  type DeliveryFilter,
  type DeliveryRow,
  type EventDetail,
  type EventFilter,
  type EventRow,
  type Page,
  type PageQuery,
  pageOf,
} from '../../types.js';
import { type Row, type Stmt, toAttempt, toDelivery, toEvent } from '../rows.js';

export function getEvent(stmt: Stmt, accountId: string, id: string): EventDetail | undefined {
  const r = stmt('SELECT * FROM events WHERE account_id = ? AND id = ?').get(accountId, id) as
    | Row
    | undefined;
  if (!r) return undefined;
  const ids = (
    stmt('SELECT id FROM deliveries WHERE event_id = ? ORDER BY id').all(id) as Row[]
  ).map((d) => d.id as string);
  return { ...toEvent(r), deliveryIds: ids };
}

export function listEvents(
  stmt: Stmt,
  accountId: string,
  filter: EventFilter,
  page: PageQuery,
): Page<EventRow> {
  const where = new Where(accountId);
  if (filter.event !== undefined) where.add('event = ?', filter.event);
  if (filter.since !== undefined) where.add('timestamp >= ?', filter.since);
  if (filter.until !== undefined) where.add('timestamp <= ?', filter.until);
  if (page.cursor) where.add('id < ?', page.cursor);
  const rows = stmt(`SELECT * FROM events WHERE ${where} ORDER BY id DESC LIMIT ?`).all(
    ...where.values,
    page.limit + 1,
  ) as Row[];
  return pageOf(rows.map(toEvent), page.limit);
}

export function getDelivery(stmt: Stmt, accountId: string, id: string): DeliveryDetail | undefined {
  const r = stmt('SELECT * FROM deliveries WHERE account_id = ? AND id = ?').get(accountId, id) as
    | Row
    | undefined;
  if (!r) return undefined;
  const attempts = (
    stmt('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number, started_at, id').all(
      id,
    ) as Row[]
  ).map(toAttempt);
  return { ...toDelivery(r), attempts };
}

export function listDeliveries(
  stmt: Stmt,
  accountId: string,
  filter: DeliveryFilter,
  page: PageQuery,
): Page<DeliveryRow> {
  const where = new Where(accountId);
  if (filter.webhookId !== undefined) where.add('webhook_id = ?', filter.webhookId);
  if (filter.eventId !== undefined) where.add('event_id = ?', filter.eventId);
  if (filter.event !== undefined) where.add('event = ?', filter.event);
  if (filter.status !== undefined) where.add('status = ?', filter.status);
  if (filter.since !== undefined) {
    // The same window as a range of ids, for the indexes (see `idBefore`).
    where.add('id >= ?', idBefore('dlv', filter.since));
    where.add('created_at >= ?', filter.since);
  }
  if (filter.until !== undefined) where.add('created_at <= ?', filter.until);
  if (page.cursor) where.add('id < ?', page.cursor);
  const rows = stmt(`SELECT * FROM deliveries WHERE ${where} ORDER BY id DESC LIMIT ?`).all(
    ...where.values,
    page.limit + 1,
  ) as Row[];
  return pageOf(rows.map(toDelivery), page.limit);
}

/**
 * A filter's conditions, the account's first. Only the set of conditions varies, never their
 * text for a given set, so the statement cache holds one statement per filter combination.
 */
export class Where {
  private readonly clauses = ['account_id = ?'];
  readonly values: unknown[];

  constructor(accountId: string) {
    this.values = [accountId];
  }

  add(clause: string, value: unknown): void {
    this.clauses.push(clause);
    this.values.push(value);
  }

  toString(): string {
    return this.clauses.join(' AND ');
  }
}
