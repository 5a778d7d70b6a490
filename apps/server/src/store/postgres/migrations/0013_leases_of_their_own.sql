-- leases of their own
--
-- A lease was two columns of the delivery's row, indexed (deliveries_leased: a webhook's live
-- leases, counted by every claim), so taking one wrote a new version of the wide row with an
-- entry in each of its seven indexes, as costly as writing the outcome (docs/performance.md,
-- issue 14, sixth pass). A lease is now a row of this narrow table: taken by the claim (an
-- insert, two index entries), renewed by the heartbeat, deleted with the outcome or by a
-- release. The rule is unchanged: a delivery with a live lease (`until` in the future) is its
-- owner's, and a webhook another owner holds live leases on is that owner's
-- (functions/claim-due.sql).
create table delivery_leases (
  delivery_id text primary key,
  webhook_id text not null,
  owner text not null,
  until bigint not null
);
-- A webhook's live leases, counted by each claim: the range `until > now` of the webhook's
-- entries. Under load thousands of leases a second end (their rows deleted, their index entries
-- left for vacuum); the range leaves out all but those of the last lease duration, as
-- deliveries_leased (webhook_id, lease_until) did.
create index delivery_leases_webhook on delivery_leases (webhook_id, until);

-- The leases of deliveries in flight now move over. deliveries.lease_owner and lease_until and
-- their index stay, unused and empty: migrations are additive, so that processes of the release
-- before keep running beside this one during a roll (docs/scaling.md, Deploy).
insert into delivery_leases (delivery_id, webhook_id, owner, until)
select id, webhook_id, lease_owner, lease_until from deliveries
where lease_owner is not null and lease_until is not null;
update deliveries set lease_owner = null, lease_until = null where lease_owner is not null;
