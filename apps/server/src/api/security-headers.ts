/**
 * Browser-facing security headers on every answer, the dashboard's and the API's alike, through
 * `@fastify/helmet` (issue 16 part 6; `docs/security.md`):
 *
 * - a Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval': scripts, styles, fonts and
 *   fetches from the service's own origin only (the dashboard's build has no inline script or
 *   style, and compiles its schema checks at build time), `frame-ancestors 'none'`, no plugins,
 *   no `<base>`; the API reference at `/docs` runs under the same policy;
 * - `X-Frame-Options: DENY` for browsers older than `frame-ancestors`;
 * - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and helmet's other
 *   defaults (Cross-Origin-Opener-Policy and -Resource-Policy `same-origin`, …);
 * - `Strict-Transport-Security` only with `AF_ENV=production` (which requires https endpoints
 *   and sits behind TLS); a development service on plain http is left alone.
 *
 * `upgrade-insecure-requests` is left out: a service reached over plain http on a private
 * address would otherwise have its own dashboard's assets requested over https.
 */
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';

/** The policy, one place: `docs/security.md` lists it. */
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'self'"],
  'base-uri': ["'none'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  // `data:` for the dashboard's empty favicon and the API reference's inline SVG icons.
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
} as const;

export async function registerSecurityHeaders(
  app: FastifyInstance,
  config: Pick<Config, 'env'>,
): Promise<void> {
  await app.register(fastifyHelmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: Object.fromEntries(
        Object.entries(CONTENT_SECURITY_POLICY).map(([name, values]) => [name, [...values]]),
      ),
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: config.env === 'production' ? { maxAge: 15_552_000 } : false,
  });
}
