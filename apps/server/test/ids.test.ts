import { describe, expect, it } from 'vitest';
import { idBefore, isId, newId } from '../src/ids.js';

describe('ids', () => {
  it('are a prefix and a ULID, unique, sorting by creation time', () => {
    const t0 = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 2000 }, (_, i) => newId('dlv', t0 + i));
    for (const id of ids) expect(isId('dlv', id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // Several in the same millisecond still sort in creation order (monotonic).
    const same = Array.from({ length: 50 }, () => newId('att', t0 + 5000));
    expect([...same].sort()).toEqual(same);
  });

  it('draws the random part uniformly from all 32 characters', () => {
    const t0 = Date.UTC(2031, 0, 1);
    const counts = new Map<string, number>();
    const n = 4000;
    for (let i = 0; i < n; i++) {
      // A new millisecond each time: a fresh random part, not an increment.
      for (const ch of newId('evt', t0 + i).slice(-16)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    const expected = (n * 16) / 32;
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(expected * 0.85);
      expect(c).toBeLessThan(expected * 1.15);
    }
  });

  it('idBefore bounds the ids made at a time or later, even when the clock went back', () => {
    // Last in the file and later than the others: the factory's time only goes forward.
    const t0 = Date.UTC(2040, 0, 1);
    const later = newId('dlv', t0 + 1000);
    // Made for an earlier time after a later one: the monotonic factory keeps the later time.
    const earlier = newId('dlv', t0);
    expect(earlier > later).toBe(true);
    expect(earlier >= idBefore('dlv', t0)).toBe(true);
    expect(later >= idBefore('dlv', t0 + 1000)).toBe(true);
    expect(newId('dlv', t0 + 999_999) < idBefore('dlv', t0 + 1_000_000)).toBe(true);
    // Outside a ULID's 48 bits of time: clamped, never thrown.
    expect(idBefore('dlv', -5)).toBe(`dlv_${'0'.repeat(26)}`);
    expect(idBefore('dlv', 2 ** 60) > idBefore('dlv', 2 ** 47)).toBe(true);
  });
});
