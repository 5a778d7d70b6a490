import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { DeliveryConfig } from '../config.js';
import { newId } from '../ids.js';
import type { Cipher } from '../security/crypto.js';
import type {
  AttemptError,
  AttemptOutcome,
  ClaimedDelivery,
  DeliveryStatus,
} from '../store/types.js';
import { CertificateWatch } from './certificates.js';
import type { EngineMetrics } from './engine.js';
import { RequestBuilder } from './request.js';
import { decideState } from './retry-policy.js';
import { type Cancel, Sender, type SendRequest, type SendResult } from './sender.js';

/**
 * One attempt of a delivery, from the claimed row to its outcome: the request built
 * (`request.ts`: decrypt, headers, signing), sent (`sender.ts`), the delivery's next state
 * decided by the retry policy (`retry-policy.ts`) at the injected clock's time, and the outcome
 * made for the store, counted (`attemptFinished`) and logged. An attempt that cannot be built
 * sends nothing and is a `configuration_error` outcome, retried by the policy like any failure;
 * one to a deleted or inactive webhook (except the test action's) sends nothing and fails with
 * `endpoint_disabled`.
 *
 * How it talks to the others: the engine runs it once it holds a slot of the webhook
 * (`slots.ts`) and hands the outcome to the outbox (`outbox.ts`); nothing here writes to the
 * store or keeps state between attempts but the signature cache and the connection pools.
 */

export interface AttemptMode {
  /** The test action: the attempt is final, and made even to an inactive webhook. */
  test: boolean;
  /** Adds `X-AgentFactory-Test: 1` (the test action's sample event). */
  sample: boolean;
  /** Stops the request (the lease was given up); reported as a timeout. */
  cancel?: Cancel;
  /**
   * Sends the built request instead of the HTTP sender: a `listen` session's socket
   * (`listen/hub.ts`), whose CLI makes the request. Rejecting sends no outcome: the caller
   * releases the delivery.
   */
  transport?: (request: SendRequest) => Promise<SendResult>;
}

export interface AttemptRunnerOptions {
  cipher: Cipher;
  clock: Clock;
  log: Logger;
  config: DeliveryConfig;
  metrics: Pick<EngineMetrics, 'attemptFinished'> | undefined;
  /** Jitter's randomness. */
  random: () => number;
}

export class AttemptRunner {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly config: DeliveryConfig;
  private readonly metrics: Pick<EngineMetrics, 'attemptFinished'> | undefined;
  private readonly random: () => number;
  private readonly requests: RequestBuilder;
  private readonly sender: Sender;
  /** The certificates the endpoints presented (the operations loop takes them). */
  readonly certificates: CertificateWatch;

  constructor(opts: AttemptRunnerOptions) {
    this.clock = opts.clock;
    this.log = opts.log;
    this.config = opts.config;
    this.metrics = opts.metrics;
    this.random = opts.random;
    this.requests = new RequestBuilder(opts.cipher, this.config.userAgent);
    this.sender = new Sender({
      allowPrivateNetworks: this.config.allowPrivateNetworks,
      clock: this.clock,
    });
    this.certificates = new CertificateWatch(this.sender);
  }

  /** See `Sender.allowOwnReceiver`. */
  allowOwnReceiver(port: number): () => void {
    return this.sender.allowOwnReceiver(port);
  }

  async run(c: ClaimedDelivery, mode: AttemptMode): Promise<AttemptOutcome> {
    const number = c.attemptCount + 1;
    const trigger = mode.test ? 'test' : c.trigger;
    const hook = c.webhook;
    if (!hook || (!hook.active && !mode.test)) {
      const now = this.clock.now();
      const outcome = this.outcome(
        c,
        number,
        trigger,
        notSent(now, 'endpoint_disabled'),
        {},
        'failed',
        null,
      );
      this.finished(outcome, c);
      return outcome;
    }

    const now = this.clock.now();
    let request: { headers: Record<string, string>; recorded: Record<string, string> };
    try {
      request = this.requests.build(c, number, now, mode.sample);
    } catch (err) {
      // Retried by the policy like any failure: a key or a header fixed meanwhile lets it through.
      this.log.warn(
        { webhookId: hook.id, deliveryId: c.id, reason: (err as Error).message },
        'attempt could not be built: configuration_error',
      );
      const result = notSent(now, 'configuration_error');
      const { status, nextAttemptAt } = this.decide(c, number, trigger, result);
      const outcome = this.outcome(c, number, trigger, result, {}, status, nextAttemptAt);
      this.finished(outcome, c);
      return outcome;
    }
    const { headers, recorded } = request;

    const send: SendRequest = {
      url: hook.url,
      headers,
      body: c.body,
      timeoutMs: this.config.timeoutMs,
      ...(mode.cancel ? { cancel: mode.cancel } : {}),
    };
    const result = await (mode.transport ? mode.transport(send) : this.sender.send(send));
    if (!mode.transport) this.certificates.seen(hook.id, c.accountId, hook.url);

    const { status, nextAttemptAt, disable } = this.decide(c, number, trigger, result);
    const outcome = this.outcome(c, number, trigger, result, recorded, status, nextAttemptAt);
    if (disable) {
      outcome.disableWebhook = disable;
      this.log.warn(
        { webhookId: hook.id, deliveryId: c.id },
        'endpoint answered 410 Gone: disabled',
      );
    }
    this.finished(outcome, c);
    return outcome;
  }

  /** Closes the connection pools (at shutdown, once no attempt runs). */
  async close(): Promise<void> {
    await this.sender.destroy();
  }

  /** The retry policy's decision for this attempt, at this clock's time. */
  private decide(
    c: ClaimedDelivery,
    number: number,
    trigger: ClaimedDelivery['trigger'],
    r: SendResult,
  ) {
    return decideState(this.config, {
      delivery: c,
      attemptNumber: number,
      trigger,
      result: r,
      endedAt: this.clock.now(),
      random: this.random,
    });
  }

  private outcome(
    c: ClaimedDelivery,
    number: number,
    trigger: ClaimedDelivery['trigger'],
    r: SendResult,
    requestHeaders: Record<string, string>,
    status: DeliveryStatus,
    nextAttemptAt: number | null,
  ): AttemptOutcome {
    return {
      deliveryId: c.id,
      accountId: c.accountId,
      webhookId: c.webhook?.id ?? '',
      status,
      nextAttemptAt,
      now: this.clock.now(),
      attempt: {
        id: newId('att'),
        deliveryId: c.id,
        number,
        startedAt: r.startedAt,
        durationMs: r.durationMs,
        statusCode: r.statusCode,
        error: r.error as AttemptError | null,
        requestHeaders,
        responseHeaders: r.responseHeaders,
        responseBody: r.responseBody,
        responseBodyEncoding: r.responseBodyEncoding,
        trigger,
        succeeded: r.succeeded,
      },
      ...(r.detail ? { detail: r.detail } : {}),
    };
  }

  private finished(o: AttemptOutcome, c: ClaimedDelivery): void {
    const a = o.attempt;
    this.metrics?.attemptFinished({
      succeeded: a.succeeded,
      statusCode: a.statusCode,
      error: a.error,
      durationMs: a.durationMs,
      trigger: a.trigger,
    });
    this.log.debug(
      {
        deliveryId: c.id,
        webhookId: o.webhookId,
        eventId: c.eventId,
        attempt: a.number,
        trigger: a.trigger,
        statusCode: a.statusCode,
        error: a.error,
        durationMs: a.durationMs,
        status: o.status,
      },
      'attempt finished',
    );
  }
}

/** The result of an attempt that sent nothing. */
function notSent(now: number, error: AttemptError): SendResult {
  return {
    startedAt: now,
    durationMs: 0,
    statusCode: null,
    succeeded: false,
    error,
    responseHeaders: {},
    responseBody: null,
    responseBodyEncoding: null,
    retryAfterMs: undefined,
  };
}
