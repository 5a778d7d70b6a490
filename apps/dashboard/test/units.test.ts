/** The dashboard's pure parts: routes, the catalog grouping, and the short texts of tables. */
import { eventNames, eventSamples } from '@agentfactory/webhooks';
import { describe, expect, it } from 'vitest';
import {
  categories,
  eventsIn,
  eventsToSave,
  expandEvents,
  subscribableEvents,
} from '../src/catalog.js';
import { eventsSummary, formatRate, formatRelative, formatUtc } from '../src/format.js';
import { parseHeaderText } from '../src/headers-text.js';
import { parseRoute, paths } from '../src/router.js';
import { checkEventData } from '../src/schema-check.js';

describe('routes', () => {
  it('parses every path it builds, and nothing else', () => {
    expect(parseRoute('')).toEqual({ name: 'webhooks' });
    expect(parseRoute(paths.webhooks)).toEqual({ name: 'webhooks' });
    expect(parseRoute(paths.newWebhook)).toEqual({ name: 'new-webhook' });
    expect(parseRoute(paths.webhook('wh_1'))).toEqual({ name: 'webhook', id: 'wh_1' });
    expect(parseRoute(paths.editWebhook('wh_1'))).toEqual({ name: 'edit-webhook', id: 'wh_1' });
    expect(parseRoute(paths.tester)).toEqual({ name: 'tester' });
    expect(parseRoute(paths.testerFor('wh_1'))).toEqual({ name: 'tester', webhookId: 'wh_1' });
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

describe('the Tester', () => {
  it('reads pasted headers as Name: value lines or a JSON object', () => {
    expect(
      parseHeaderText('POST /webhooks HTTP/1.1\r\nWebhook-Id: evt_1\n\nX-A: 1\nx-a: 2\nUrl: a:b'),
    ).toEqual({ ok: true, headers: { 'webhook-id': 'evt_1', 'x-a': '1, 2', url: 'a:b' } });
    expect(parseHeaderText('{"Webhook-Id":"evt_1","x-list":["a","b"]}')).toEqual({
      ok: true,
      headers: { 'webhook-id': 'evt_1', 'x-list': 'a, b' },
    });
    expect(parseHeaderText('')).toMatchObject({ ok: false });
    expect(parseHeaderText('{"a":')).toMatchObject({ ok: false });
    expect(parseHeaderText('[1]')).toMatchObject({ ok: false, error: /Line 1/ });
    expect(parseHeaderText('a: 1\nno colon here')).toMatchObject({ ok: false, error: /Line 2/ });
  });

  it('checks event data against its schema with JSON-pointer paths', () => {
    const sample = eventSamples['conversation.message'];
    expect(checkEventData('conversation.message', sample)).toEqual([]);
    const { agent_id: _, ...missing } = sample;
    expect(checkEventData('conversation.message', { ...missing, message: 7 })).toEqual(
      expect.arrayContaining([
        { path: '/data/agent_id', message: 'is required' },
        { path: '/data/message', message: 'must be string' },
      ]),
    );
    expect(checkEventData('no.such', {})).toEqual([
      { path: '/event', message: 'is not a catalog event' },
    ]);
  });
});
