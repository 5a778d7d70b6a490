/**
 * The delivery log's reads (`Store.getEvent`, `listEvents`, `getDelivery`, `listDeliveries`), as
 * `sqlite/sql/delivery-log.ts` is on SQLite: scoped by account, newest first by id (ULIDs sort
 * by time), one row past the page to know whether another page follows (`pageOf`). Each filter
 * is a `$n is null or …` condition, so one statement text (and one cached plan) serves every
 * combination.
 */
import type pg from 'pg';
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
import { query } from '../pool.js';
import { attemptRow, deliveryRow, deliverySelect, eventRow } from '../rows.js';

export async function getEvent(
  pool: pg.Pool,
  accountId: string,
  id: string,
): Promise<EventDetail | undefined> {
  const { rows } = await query(
    pool,
    `select e.*, array(select d.id from deliveries d where d.event_id = e.id order by d.id)
       as delivery_ids
     from events e where e.account_id = $1 and e.id = $2`,
    [accountId, id],
  );
  const r = rows[0];
  return r && { ...eventRow(r), deliveryIds: r.delivery_ids };
}

export async function listEvents(
  pool: pg.Pool,
  accountId: string,
  filter: EventFilter,
  page: PageQuery,
): Promise<Page<EventRow>> {
  const { rows } = await query(
    pool,
    `select * from events
     where account_id = $1 and ($2::text is null or id < $2)
       and ($3::text is null or event = $3)
       and ($4::bigint is null or timestamp >= $4)
       and ($5::bigint is null or timestamp <= $5)
     order by id desc limit $6`,
    [
      accountId,
      page.cursor ?? null,
      filter.event ?? null,
      filter.since ?? null,
      filter.until ?? null,
      page.limit + 1,
    ],
  );
  return pageOf(rows.map(eventRow), page.limit);
}

export async function getDelivery(
  pool: pg.Pool,
  accountId: string,
  id: string,
): Promise<DeliveryDetail | undefined> {
  const { rows } = await query(pool, `${deliverySelect} where account_id = $1 and id = $2`, [
    accountId,
    id,
  ]);
  if (!rows[0]) return undefined;
  const attempts = await query(
    pool,
    'select * from attempts where delivery_id = $1 order by number, started_at, id',
    [id],
  );
  return { ...deliveryRow(rows[0]), attempts: attempts.rows.map(attemptRow) };
}

export async function listDeliveries(
  pool: pg.Pool,
  accountId: string,
  filter: DeliveryFilter,
  page: PageQuery,
): Promise<Page<DeliveryRow>> {
  const { rows } = await query(
    pool,
    `${deliverySelect}
     where account_id = $1 and ($2::text is null or id < $2)
       and ($3::text is null or event = $3)
       and ($4::bigint is null or (id >= $10 and created_at >= $4))
       and ($5::bigint is null or created_at <= $5)
       and ($6::text is null or webhook_id = $6)
       and ($7::text is null or event_id = $7)
       and ($8::text is null or status = $8)
     order by id desc limit $9`,
    [
      accountId,
      page.cursor ?? null,
      filter.event ?? null,
      filter.since ?? null,
      filter.until ?? null,
      filter.webhookId ?? null,
      filter.eventId ?? null,
      filter.status ?? null,
      page.limit + 1,
      // The window's start as a range of ids, for the indexes (see `idBefore`).
      filter.since === undefined ? null : idBefore('dlv', filter.since),
    ],
  );
  return pageOf(rows.map(deliveryRow), page.limit);
}
