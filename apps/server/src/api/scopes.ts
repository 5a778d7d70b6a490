/**
 * Scopes (SPEC §5): every route an account key may call declares the one scope it needs in its
 * `config.scope`, beside its `config.access`; a key holds one or more. `full` allows everything,
 * `read` every `GET` but the secret reveals, `events:write` posting events only. The check runs in
 * the access hook (`auth.ts`); `requireDeclaredScopes` refuses to build an app with a route that
 * forgot to declare one, so no route is reachable by an account key without a decision.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiKeyScope } from '../store/types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope an account key needs for this route (routes with access `account` or `any`). */
    scope?: ApiKeyScope;
  }
  interface FastifyInstance {
    /** Every route as it was added, with who may call it: the scopes matrix test walks it. */
    routeAccess: RouteAccess[];
  }
}

export interface RouteAccess {
  method: string;
  url: string;
  access: string;
  scope: ApiKeyScope | undefined;
}

/** Whether a key holding `held` may call a route that needs `needed`. */
export function allows(held: readonly ApiKeyScope[], needed: ApiKeyScope): boolean {
  return held.includes('full') || held.includes(needed);
}

/**
 * An `onRoute` hook, added before the routes: a route an account key may call (access `account`
 * or `any`) without a declared scope is a programming error, thrown when the app is built.
 */
export function requireDeclaredScopes(app: FastifyInstance): void {
  const routes: RouteAccess[] = [];
  app.decorate('routeAccess', routes);
  app.addHook('onRoute', (route) => {
    const config = route.config as { access?: string; scope?: ApiKeyScope } | undefined;
    const access = config?.access ?? 'public';
    for (const method of [route.method].flat())
      routes.push({ method: String(method), url: route.url, access, scope: config?.scope });
    if ((access === 'account' || access === 'any') && config?.scope === undefined) {
      throw new Error(
        `route ${String(route.method)} ${route.url} has access "${access}" but no config.scope (api/scopes.ts)`,
      );
    }
  });
}
