import { isEventName } from './catalog/index.js';
import { type DedupeStore, MemoryDedupeStore } from './dedupe/index.js';
import { WebhookVerificationError } from './errors.js';
import type { AgentFactoryEvent, EventName, WebhookEvent } from './generated/events.js';
import type { HeadersInput } from './headers.js';
import { constructEvent, normalizeSecrets, type SecretsInput } from './verify.js';

/** The event of one name, or a union discriminated on `event` when given several names. */
export type EventOf<N extends EventName> = { [K in N]: WebhookEvent<K> }[N];

/** An event whose type this SDK does not know yet (sent by a newer service). */
export interface UnknownWebhookEvent {
  id: string;
  event: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** What `onAny` handlers receive: a catalog event, or one newer than this SDK. */
export type AnyWebhookEvent = AgentFactoryEvent | UnknownWebhookEvent;

/**
 * True when the event's type is in this SDK's catalog: narrows an `onAny` event to the
 * discriminated {@link AgentFactoryEvent} union.
 *
 * @example
 * webhooks.onAny((event) => {
 *   if (isKnownEvent(event) && event.event === 'agent.created') console.log(event.data.agent_name);
 * });
 */
export function isKnownEvent(event: AnyWebhookEvent): event is AgentFactoryEvent {
  return isEventName(event.event);
}

export type EventHandler<N extends EventName> = (event: EventOf<N>) => unknown;
export type AnyEventHandler = (event: AnyWebhookEvent) => unknown;

/** Where an error reported to `onError` came from. */
export interface ErrorContext {
  /** `verification`: the request was refused; `handler`: a handler threw; `dedupe`: the store failed. */
  stage: 'verification' | 'handler' | 'dedupe';
  /** The event, once verified. */
  event?: AnyWebhookEvent;
}
export type ErrorHandler = (error: unknown, context: ErrorContext) => unknown;

export interface WebhooksOptions {
  /** The endpoint's secret, or several during a rotation. */
  secret: SecretsInput;
  /**
   * Drop repeated deliveries of one event id: `true` for an in-memory store, or your own
   * {@link DedupeStore} (shared across processes). Default off.
   */
  dedupe?: boolean | DedupeStore;
  /** Seconds a copy that arrives while the first is processing is told to wait. Default 60. */
  retryAfterSeconds?: number;
  /** Signature timestamp tolerance, both ways, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Refuse requests that carry only the body signature (no timestamp). Default false. */
  requireTimestamp?: boolean;
  /** The clock, milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** A request as every adapter hands it over: the raw body and the headers. */
export interface WebhookRequest {
  /** The raw body as received: a string, `Uint8Array` or `Buffer`. */
  body: unknown;
  headers: HeadersInput;
}

/** The answer to send back: status, headers and a JSON body. */
export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function respond(status: number, payload: unknown, extra: Record<string, string> = {}) {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...extra },
    body: JSON.stringify(payload),
  } satisfies WebhookResponse;
}

/**
 * Verifies deliveries and routes them to typed handlers. Framework adapters call `receive`;
 * you can too, from any server.
 *
 * @example
 * const webhooks = new Webhooks({ secret: process.env.AF_WEBHOOK_SECRET!, dedupe: true });
 * webhooks.on('conversation.message', async (event) => {
 *   console.log(event.data.conversation_id, event.data.message);
 * });
 * const { status, headers, body } = await webhooks.receive({ body: rawBody, headers: req.headers });
 */
export class Webhooks {
  readonly #secrets: string[];
  readonly #options: WebhooksOptions;
  readonly #dedupe: DedupeStore | undefined;
  readonly #handlers = new Map<string, AnyEventHandler[]>();
  readonly #anyHandlers: AnyEventHandler[] = [];
  readonly #errorHandlers: ErrorHandler[] = [];

  constructor(options: WebhooksOptions) {
    this.#secrets = normalizeSecrets(options.secret);
    if (options.toleranceSeconds !== undefined && !(options.toleranceSeconds >= 0)) {
      throw new RangeError('toleranceSeconds must be a number ≥ 0.');
    }
    if (options.retryAfterSeconds !== undefined && !(options.retryAfterSeconds >= 0)) {
      throw new RangeError('retryAfterSeconds must be a number ≥ 0.');
    }
    this.#options = options;
    this.#dedupe =
      options.dedupe === true
        ? new MemoryDedupeStore(options.now ? { now: options.now } : {})
        : options.dedupe || undefined;
  }

  /**
   * Handles one event type, or several (the handler then gets their union). A handler that
   * throws makes the request answer 500, so that the sender retries.
   *
   * @example
   * webhooks.on(['agent.deployed', 'agent.undeployed'], (event) => console.log(event.data.environment));
   */
  on<N extends EventName>(name: N | readonly N[], handler: EventHandler<N>): this {
    for (const one of typeof name === 'string' ? [name] : name) {
      if (!isEventName(one)) {
        throw new TypeError(`Unknown event type "${one}": use onAny for events you don't know.`);
      }
      const list = this.#handlers.get(one) ?? [];
      list.push(handler as AnyEventHandler);
      this.#handlers.set(one, list);
    }
    return this;
  }

  /**
   * Handles every event, including types newer than this SDK.
   *
   * @example
   * webhooks.onAny((event) => console.log('received', event.event, event.id));
   */
  onAny(handler: AnyEventHandler): this {
    this.#anyHandlers.push(handler);
    return this;
  }

  /**
   * Observes refused requests and failed handlers, e.g. to log them. Its own errors are ignored.
   *
   * @example
   * webhooks.onError((error, { stage, event }) => console.error(stage, event?.id, error));
   */
  onError(handler: ErrorHandler): this {
    this.#errorHandlers.push(handler);
    return this;
  }

  /**
   * Verifies one request and runs its handlers: 200 when handled (or already handled), 401 on a
   * bad signature, 400 on a bad body, 409 with `Retry-After` while a copy is processing, 500 when
   * a handler failed.
   *
   * @example
   * const result = await webhooks.receive({ body: await request.text(), headers: request.headers });
   * return new Response(result.body, { status: result.status, headers: result.headers });
   */
  async receive(request: WebhookRequest): Promise<WebhookResponse> {
    let event: AnyWebhookEvent;
    try {
      event = await constructEvent(
        request.body as string,
        request.headers,
        this.#secrets,
        this.#options,
      );
    } catch (error) {
      await this.#report(error, { stage: 'verification' });
      if (error instanceof WebhookVerificationError) {
        return respond(error.status, { error: { code: error.code, message: error.message } });
      }
      throw error;
    }

    const store = this.#dedupe;
    if (store) {
      let claim: Awaited<ReturnType<DedupeStore['claim']>>;
      try {
        claim = await store.claim(event.id);
      } catch (error) {
        await this.#report(error, { stage: 'dedupe', event });
        return respond(500, {
          error: { code: 'dedupe_unavailable', message: 'The dedupe store failed.' },
        });
      }
      if (claim === 'done') return respond(200, { ok: true, duplicate: true });
      if (claim === 'processing') {
        const retryAfter = String(this.#options.retryAfterSeconds ?? 60);
        return respond(
          409,
          {
            error: {
              code: 'event_in_progress',
              message: `Event ${event.id} is being handled by another request; retry later.`,
            },
          },
          { 'retry-after': retryAfter },
        );
      }
    }

    const handlers = [...(this.#handlers.get(event.event) ?? []), ...this.#anyHandlers];
    const results = await Promise.allSettled(handlers.map(async (handler) => handler(event)));
    const failures = results.filter((r) => r.status === 'rejected');
    if (failures.length > 0) {
      if (store) await store.release(event.id).catch(() => undefined);
      for (const failure of failures) {
        await this.#report((failure as PromiseRejectedResult).reason, { stage: 'handler', event });
      }
      return respond(500, {
        error: { code: 'handler_failed', message: `A handler for ${event.event} failed.` },
      });
    }
    if (store) {
      await store
        .complete(event.id)
        .catch((error: unknown) => this.#report(error, { stage: 'dedupe', event }));
    }
    return respond(200, { ok: true });
  }

  async #report(error: unknown, context: ErrorContext): Promise<void> {
    for (const handler of this.#errorHandlers) {
      try {
        await handler(error, context);
      } catch {
        // An error handler must not change the answer.
      }
    }
  }
}
