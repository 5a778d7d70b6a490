/** The dashboard's pure parts: routes, the catalog grouping, and the short texts of tables. */
import { eventNames } from '@agentfactory/webhooks';
import { describe, expect, it } from 'vitest';
import {
  categories,
  eventsIn,
  eventsToSave,
  expandEvents,
  subscribableEvents,
} from '../src/catalog.js';
import { eventsSummary, formatRate, formatRelative, formatUtc } from '../src/format.js';
import { parseRoute, paths } from '../src/router.js';

describe('routes', () => {
  it('parses every path it builds, and nothing else', () => {
    expect(parseRoute('')).toEqual({ name: 'webhooks' });
    expect(parseRoute(paths.webhooks)).toEqual({ name: 'webhooks' });
    expect(parseRoute(paths.newWebhook)).toEqual({ name: 'new-webhook' });
    expect(parseRoute(paths.webhook('wh_1'))).toEqual({ name: 'webhook', id: 'wh_1' });
    expect(parseRoute(paths.editWebhook('wh_1'))).toEqual({ name: 'edit-webhook', id: 'wh_1' });
    expect(parseRoute(paths.delivery('wh_1', 'dlv_2'))).toEqual({
      name: 'delivery',
      id: 'wh_1',
      deliveryId: 'dlv_2',
    });
    expect(parseRoute(paths.catalog)).toEqual({ name: 'catalog' });
    expect(parseRoute('#/elsewhere')).toEqual({ name: 'not-found' });
    expect(parseRoute(`${paths.webhook('wh_1')}/nope`)).toEqual({ name: 'not-found' });
  });
});

describe('catalog grouping', () => {
  it('offers every catalog event but webhook.test, each in exactly one group', () => {
    const grouped = categories.flatMap((c) => eventsIn(c).map((e) => e.name));
    expect(grouped.sort()).toEqual(eventNames.filter((n) => n !== 'webhook.test').sort());
    expect(subscribableEvents.map((e) => e.name)).not.toContain('webhook.test');
  });

  it('expands wildcards into the checkboxes they stand for', () => {
    expect([...expandEvents(['usage.*'])].sort()).toEqual(['usage.limit', 'usage.threshold']);
    expect(expandEvents(['*']).size).toBe(subscribableEvents.length);
    expect([...expandEvents(['agent.created', 'nope.nope'])]).toEqual(['agent.created']);
  });

  it('saves checked names in catalog order, keeping a wildcard while its group stays whole', () => {
    const usage = new Set(['usage.limit', 'usage.threshold', 'error.resolved']);
    expect(eventsToSave(usage)).toEqual(['usage.threshold', 'usage.limit', 'error.resolved']);
    expect(eventsToSave(usage, ['usage.*', 'error.resolved'])).toEqual([
      'usage.*',
      'error.resolved',
    ]);
    expect(eventsToSave(new Set(['usage.limit']), ['usage.*'])).toEqual(['usage.limit']);
  });
});

describe('formatting', () => {
  it('never rounds a failure up to 100 % or a success down to 0 %', () => {
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(0)).toBe('0%');
    expect(formatRate(0.9996)).toBe('99.9%');
    expect(formatRate(0.0001)).toBe('0.1%');
    expect(formatRate(0.75)).toBe('75%');
    expect(formatRate(2 / 3)).toBe('66.6%');
  });

  it('summarises event lists', () => {
    expect(eventsSummary(['*'])).toBe('All events');
    expect(eventsSummary(['a', 'b'])).toBe('a, b');
    expect(eventsSummary(['a', 'b', 'c', 'd', 'e'])).toBe('a, b and 3 more');
  });

  it('formats times', () => {
    expect(formatRelative(-180_000)).toBe('3 minutes ago');
    expect(formatRelative(7_200_000)).toBe('in 2 hours');
    expect(formatUtc('2024-01-15T10:35:00.123Z')).toBe('2024-01-15 10:35:00 UTC');
    expect(formatUtc('2024-01-15T10:35:00Z')).toBe('2024-01-15 10:35:00 UTC');
  });
});
