import { describe, expect, it } from 'vitest';
import {
  categoryOf,
  eventCategories,
  eventNames,
  isValidPattern,
  matchesEvent,
  subscribableEventNames,
} from '../src/index.js';

describe('subscriptions', () => {
  it('matches names, * and category wildcards, never across a category prefix', () => {
    expect(matchesEvent(['agent.created'], 'agent.created')).toBe(true);
    expect(matchesEvent(['agent.created'], 'agent.updated')).toBe(false);
    expect(matchesEvent(['*'], 'usage.limit')).toBe(true);
    expect(matchesEvent(['agent.*'], 'agent.deployed')).toBe(true);
    expect(matchesEvent(['agent.*'], 'agentx.created')).toBe(false);
    expect(matchesEvent(['conversation.*', 'error.occurred'], 'error.occurred')).toBe(true);
    expect(matchesEvent([], 'agent.created')).toBe(false);
  });

  it('matches the operational events by name, webhook.* and *', () => {
    for (const name of ['webhook.failing', 'webhook.disabled', 'webhook.recovered']) {
      expect(matchesEvent(['*'], name)).toBe(true);
      expect(matchesEvent(['webhook.*'], name)).toBe(true);
      expect(matchesEvent([name], name)).toBe(true);
      expect(matchesEvent(['agent.*'], name)).toBe(false);
      expect(isValidPattern(name)).toBe(true);
    }
    expect(isValidPattern('webhook.*')).toBe(true);
    expect(matchesEvent(['webhook.*'], 'webhook.test')).toBe(false);
  });

  it('never matches webhook.test, which only the test action sends', () => {
    expect(matchesEvent(['*'], 'webhook.test')).toBe(false);
    expect(matchesEvent(['webhook.test'], 'webhook.test')).toBe(false);
    expect(isValidPattern('webhook.test')).toBe(false);
    expect(subscribableEventNames).not.toContain('webhook.test');
    expect(subscribableEventNames).toHaveLength(eventNames.length - 1);
  });

  it('accepts a catalog name, * or a known category wildcard, nothing else', () => {
    expect(eventCategories).toEqual(['agent', 'conversation', 'usage', 'error', 'webhook']);
    for (const name of subscribableEventNames) expect(isValidPattern(name)).toBe(true);
    for (const c of eventCategories) expect(isValidPattern(`${c}.*`)).toBe(true);
    expect(isValidPattern('*')).toBe(true);
    for (const bad of ['agent.nope', 'nope.*', 'agent.', '.*', '**', '', 'AGENT.created']) {
      expect(isValidPattern(bad)).toBe(false);
    }
    expect(categoryOf('conversation.message')).toBe('conversation');
  });
});
