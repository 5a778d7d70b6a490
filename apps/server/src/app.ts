/**
 * The HTTP application: Fastify with TypeBox schemas on every route, one file per resource in
 * `api/`, one error handler, OpenAPI 3.1 at `/openapi.json` and its reference at `/docs`, and the
 * dashboard's static files at `/` when they are built.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { accountRoutes } from './api/accounts.js';
import { apiKeyRoutes } from './api/api-keys.js';
import { auditRoutes, createAuditRecorder } from './api/audit.js';
import { ApiKeyCache, accessHook } from './api/auth.js';
import { CatalogValidator } from './api/catalog-validator.js';
import { deliveryRoutes } from './api/deliveries.js';
import type { AppDeps } from './api/deps.js';
import { eventTypeRoutes } from './api/event-types.js';
import { eventRoutes } from './api/events.js';
import { healthRoutes } from './api/health.js';
import { boundedValidator, registerJsonParser } from './api/json-body.js';
import { listenRoutes } from './api/listen.js';
import { createCursors } from './api/query.js';
import { RateLimits } from './api/rate-limits.js';
import { ErrorSchema } from './api/schemas.js';
import { requireDeclaredScopes } from './api/scopes.js';
import { registerSecurityHeaders } from './api/security-headers.js';
import { webhookActionRoutes } from './api/webhook-actions.js';
import { webhookRoutes } from './api/webhooks.js';
import {
  clientErrorHandler,
  errorBody,
  errorHandler,
  NotFoundError,
  ValidationError,
} from './errors.js';
import { ListenHub } from './listen/hub.js';
import { createRateLimiter } from './rate-limit/limiter.js';
import { isWarmUpRequest } from './warm-up.js';

export type { AppDeps } from './api/deps.js';

const addFormats = addFormatsModule.default;

/** `apps/dashboard/dist`, found from this file (`src/` or `dist/`), not from the cwd. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(
  new URL('../../dashboard/dist/', import.meta.url),
);

const LANDING = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent Factory Webhooks</title>
<link rel="stylesheet" href="/landing.css">
</head><body>
<h1>Agent Factory Webhooks</h1>
<p>The service is running. The dashboard is not built yet (<code>npm run build -w @agentfactory/dashboard</code>).</p>
<ul>
<li><a href="/docs">API reference</a> (<a href="/openapi.json">openapi.json</a>)</li>
<li><a href="/v1/event-types">Event catalog</a></li>
<li><a href="/healthz">Health</a> · <a href="/metrics">Metrics</a></li>
</ul>
</body></html>`;
/** The landing page's style, served apart: the CSP allows no inline style (`security-headers.ts`). */
const LANDING_CSS =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}a{color:#0969da}code{background:#f6f8fa;padding:.1em .3em;border-radius:4px}';

/**
 * Two validators: request bodies are validated strictly (no type coercion, unknown fields are
 * errors), query strings and path parameters with coercion (`?limit=10` is a number). Each is
 * compiled twice, stopping at the first error and collecting all (`boundedValidator`).
 */
function validators() {
  const make = (allErrors: boolean, coerceTypes: false | 'array') => {
    const ajv = new Ajv({
      allErrors,
      strict: false,
      useDefaults: true,
      coerceTypes,
      removeAdditional: false,
    });
    addFormats(ajv);
    ajv.addSchema(ErrorSchema);
    return ajv;
  };
  const pair = (coerceTypes: false | 'array') => {
    const first = make(false, coerceTypes);
    const all = make(true, coerceTypes);
    return (schema: object) => boundedValidator(first.compile(schema), all.compile(schema));
  };
  return { body: pair(false), other: pair('array') };
}

/** A request slower than this is logged at `info`; the others at `debug`. */
const SLOW_REQUEST_MS = 1000;

/** One line per request: method, path, status and time (`AF_LOG_LEVEL=debug` shows them all). */
async function logRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const ms = reply.elapsedTime;
  const slow = ms >= SLOW_REQUEST_MS;
  if (!slow && !(request.log as Logger).isLevelEnabled('debug')) return;
  // The start's warm-up calls the routes a thousand times (`warm-up.ts`): not worth a log line.
  if (isWarmUpRequest(request)) return;
  const line = {
    method: request.method,
    url: request.url,
    statusCode: reply.statusCode,
    responseTime: Math.round(ms * 10) / 10,
  };
  if (slow) request.log.info(line, 'slow request');
  else request.log.debug(line, 'request');
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    return503OnClosing: true,
    // The error handler builds the message from `error.validation`; Fastify's own formatter
    // would join every error's text first.
    schemaErrorFormatter: () => new Error('The request is invalid.'),
    clientErrorHandler,
    // Node answers a request without Host with an empty 400 of its own; the hook below answers
    // it in the API's error shape instead (RFC 9112 §3.2 still holds).
    http: { requireHostHeader: false },
    // Fastify's two `info` lines per request were 1,000 JSON lines a second at 500 events/s, on
    // the ingest hot path; `logRequest` below writes one, at `debug` unless the request was slow.
    logController: new LogController({ disableRequestLogging: true }),
  });
  requireDeclaredScopes(app);
  app.addHook('onResponse', logRequest);
  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? ajv.body(schema) : ajv.other(schema),
  );
  registerJsonParser(app);
  app.addSchema(ErrorSchema);
  app.setErrorHandler(errorHandler);
  // First of the hooks: an answer refused by any of them (401, 400) carries the headers too.
  await registerSecurityHeaders(app, deps.config);
  // Before the hooks below: its own `onRequest` marks upgrade requests, so that an upgrade one of
  // them refuses (401, 400) has its socket closed after the answer, not leaked.
  if (deps.routes !== 'operations')
    await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined)
      throw new ValidationError('An HTTP/1.1 request needs a Host header.');
  });
  // One cache of account keys per app: the API keys routes make a revoked key refused at once.
  const keys = new ApiKeyCache();
  app.addHook('onRequest', accessHook(deps, keys));
  // Off by default: then there is no hook, and the events routes skip their check.
  const rateLimits = new RateLimits(
    deps.config.rateLimits,
    createRateLimiter(deps.store),
    deps.metrics,
  );
  const apiLimit = deps.routes === 'operations' ? null : rateLimits.apiHook();
  if (apiLimit) app.addHook('onRequest', apiLimit);
  // A POST without a body is an empty object: `POST /v1/webhooks/{id}/test` needs no body, and
  // routes with required fields name them instead of "body must be object".
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.method !== 'GET' && request.method !== 'HEAD')
      request.body = {};
  });

  if (deps.routes === 'operations') {
    healthRoutes(app, deps);
    app.setNotFoundHandler(async (_request, reply) =>
      reply.code(404).send(errorBody(new NotFoundError('route'))),
    );
    return app;
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Agent Factory Webhooks API',
        version: deps.config.version,
        description:
          'Webhook endpoints, events, deliveries and attempts (SPEC §5). Authenticate with `Authorization: Bearer <api key>`.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearerAuth: [] }],
    },
    // Shared schemas keep their `$id` as their name under components.schemas (`Error`).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  // Under the service's own CSP (`security-headers.ts`), not the plugin's looser one.
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // `listen` sessions connect to this process; it sends their deliveries (`listen/hub.ts`), so
  // work accepted here wakes them as it wakes the engine.
  const hub = new ListenHub({
    store: deps.store,
    cipher: deps.cipher,
    clock: deps.clock,
    log: deps.logger.child({ component: 'listen' }),
    config: deps.config.delivery,
    metrics: deps.metrics,
  });
  hub.start();
  app.addHook('preClose', async () => hub.stop());
  const engine = deps.engine;
  deps = {
    ...deps,
    engine: {
      notify: () => {
        engine.notify();
        hub.notify();
      },
      sendTest: (claimed, opts) => engine.sendTest(claimed, opts),
    },
  };

  healthRoutes(app, deps);
  eventTypeRoutes(app);
  const audit = createAuditRecorder(deps.store, () => deps.clock.now());
  accountRoutes(app, deps, audit);
  // One cursor key for every list: a cursor is bound to its account and its row id.
  const cursors = createCursors(deps.config.encryptionKey);
  apiKeyRoutes(app, deps, cursors, keys, audit);
  auditRoutes(app, deps, cursors);
  // One compiled catalog for the events routes and the test action's edited data.
  const catalog = new CatalogValidator(deps.config.maxPayloadBytes);
  webhookRoutes(app, deps, cursors, audit);
  webhookActionRoutes(app, deps, catalog, audit);
  eventRoutes(app, deps, cursors, catalog, rateLimits);
  deliveryRoutes(app, deps, cursors);
  listenRoutes(app, deps, hub, audit);

  const dashboardDir = deps.dashboardDir === undefined ? DEFAULT_DASHBOARD_DIR : deps.dashboardDir;
  const hasDashboard =
    dashboardDir !== null && existsSync(`${dashboardDir.replace(/\/$/, '')}/index.html`);
  if (hasDashboard) {
    // A wildcard route, so a dashboard rebuilt while the service runs is served without a restart.
    await app.register(fastifyStatic, { root: dashboardDir, prefix: '/', wildcard: true });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(LANDING),
    );
    app.get('/landing.css', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/css; charset=utf-8').send(LANDING_CSS),
    );
  }

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const isApi = path.startsWith('/v1/') || path === '/v1';
    if (
      hasDashboard &&
      !isApi &&
      (request.method === 'GET' || request.method === 'HEAD') &&
      !/\.[a-z0-9]+$/i.test(path)
    ) {
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    return reply.code(404).send(errorBody(new NotFoundError('route')));
  });

  return app;
}
