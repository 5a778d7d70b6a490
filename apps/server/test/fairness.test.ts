/**
 * `Fairness`'s rules on their own: how far ahead a webhook is leased (fast endpoints further,
 * within their account's share) and what a claim is told. The engine's tests run the same rules
 * against real receivers and stores.
 */
import { describe, expect, it } from 'vitest';
import { Fairness } from '../src/delivery/fairness.js';

// Cap 10 attempts at once; 30 leases for a webhook, 60 for a fast one; 100 per account.
const fairness = () => new Fairness(10, 30, 60, 100);

describe('fairness: lease-ahead', () => {
  it('leases a webhook whose last attempt was fast further ahead, and a slow answer takes it back', () => {
    const f = fairness();
    f.hold('acct_a', 'wh_1');
    expect(f.leases('wh_1')).toBe(30);
    expect(f.claim().webhookCaps).toEqual({});
    // Fast: more leases, nothing sent back.
    expect(f.attemptEnded('wh_1', null, 3)).toBe(false);
    expect(f.leases('wh_1')).toBe(60);
    expect(f.claim().webhookCaps).toEqual({ wh_1: 60 });
    // An error answered fast is fast too: what counts is how soon the slot frees.
    expect(f.attemptEnded('wh_1', 'response_status', 2)).toBe(false);
    expect(f.leases('wh_1')).toBe(60);
    // One slow answer: back to the default; what it holds beyond is not sent back (false).
    expect(f.attemptEnded('wh_1', null, 400)).toBe(false);
    expect(f.leases('wh_1')).toBe(30);
    expect(f.claim().webhookCaps).toEqual({});
  });

  it('a timeout slows the webhook below its limit whatever its speed before', () => {
    const f = fairness();
    f.hold('acct_a', 'wh_1');
    f.attemptEnded('wh_1', null, 1);
    expect(f.attemptEnded('wh_1', 'timeout', 5000)).toBe(true);
    expect(f.limit('wh_1')).toBe(5);
    expect(f.leases('wh_1')).toBe(5);
    expect(f.claim().webhookCaps).toEqual({ wh_1: 5 });
  });

  it("shares the extra out of the account's share among its busy webhooks", () => {
    const f = fairness();
    for (const w of ['wh_1', 'wh_2']) {
      f.hold('acct_a', w);
      f.attemptEnded(w, null, 1);
    }
    // 100 / 2 = 50 each, below the fast 60.
    expect(f.leases('wh_1')).toBe(50);
    f.hold('acct_a', 'wh_3');
    f.hold('acct_a', 'wh_4');
    // 100 / 4 = 25: no more than the default for anyone, so no cap is sent.
    expect(f.leases('wh_1')).toBe(30);
    expect(f.claim().webhookCaps).toEqual({});
    // Another account's webhooks do not count against this one.
    f.hold('acct_b', 'wh_9');
    f.release('acct_a', 'wh_3');
    f.release('acct_a', 'wh_4');
    expect(f.claim().webhookCaps).toEqual({ wh_1: 50, wh_2: 50 });
  });

  it('forgets a webhook once none of its deliveries is held, and never tracks a deleted one', () => {
    const f = fairness();
    f.hold('acct_a', 'wh_1');
    f.hold('acct_a', 'wh_1');
    f.attemptEnded('wh_1', null, 1);
    f.release('acct_a', 'wh_1');
    expect(f.leases('wh_1')).toBe(60);
    f.release('acct_a', 'wh_1');
    expect(f.leases('wh_1')).toBe(30);
    // Not held: an attempt (the test action) says nothing about lease-ahead.
    expect(f.attemptEnded('wh_1', null, 1)).toBe(false);
    expect(f.leases('wh_1')).toBe(30);
    // A deleted webhook's deliveries ('') count for the account only.
    f.hold('acct_a', '');
    f.hold('acct_b', '');
    f.release('acct_a', '');
    expect(f.claim().accountRoom).toEqual({ acct_b: 99 });
    expect(f.heldBelowShare()).toBe(1);
  });
});
