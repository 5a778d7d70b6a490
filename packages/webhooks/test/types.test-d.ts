import { describe, expectTypeOf, it } from 'vitest';
import {
  type AgentFactoryEvent,
  type AnyWebhookEvent,
  constructEvent,
  type EventMap,
  isKnownEvent,
  type WebhookEvent,
  Webhooks,
} from '../src/index.js';

const webhooks = new Webhooks({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });

describe('handler types', () => {
  it('.on(name) narrows the event to that name', () => {
    webhooks.on('conversation.message', (e) => e.data.message);
    webhooks.on('conversation.message', (e) => {
      expectTypeOf(e).toEqualTypeOf<WebhookEvent<'conversation.message'>>();
      expectTypeOf(e.data.message).toBeString();
      expectTypeOf(e.data.role).toEqualTypeOf<'user' | 'agent' | 'system' | undefined>();
      // @ts-expect-error a field that conversation.message does not have
      e.data.nope;
      // @ts-expect-error a field of another event
      e.data.agent_name;
    });
  });

  it('.on([names]) gives a union discriminated on event', () => {
    webhooks.on(['agent.deployed', 'usage.limit'], (e) => {
      if (e.event === 'agent.deployed') expectTypeOf(e.data.environment).toBeString();
      else expectTypeOf(e.data).toEqualTypeOf<EventMap['usage.limit']>();
    });
  });

  it('unknown names are refused', () => {
    // @ts-expect-error not in the catalog
    webhooks.on('agent.exploded', () => {});
  });

  it('onAny and constructEvent', async () => {
    webhooks.onAny((e) => expectTypeOf(e).toEqualTypeOf<AnyWebhookEvent>());
    webhooks.onAny((e) => {
      if (isKnownEvent(e) && e.event === 'agent.created') {
        expectTypeOf(e.data.agent_name).toBeString();
      }
    });
    const event = await constructEvent('{}', {}, 'secret-value');
    expectTypeOf(event).toEqualTypeOf<AgentFactoryEvent>();
    if (event.event === 'error.occurred') {
      expectTypeOf(event.data.severity).toEqualTypeOf<'info' | 'warning' | 'error' | 'critical'>();
    }
  });
});
