import { lazy, Suspense, useCallback, useMemo, useState } from 'react';
import { createApi } from './api.js';
import { ApiContext } from './api-context.js';
import { Loading, PageTitle } from './components/page-title.js';
import { ApiKeysPage } from './pages/api-keys.js';
import { AuditLogPage } from './pages/audit-log.js';
import { DeliveryPage } from './pages/delivery.js';
import { EventCatalogPage } from './pages/event-catalog.js';
import { SignInPage } from './pages/sign-in.js';
import { WebhookDetailPage } from './pages/webhook-detail.js';
import { WebhookCreatePage, WebhookEditPage } from './pages/webhook-form.js';
import { WebhookListPage } from './pages/webhook-list.js';
import { isListenSessionId, paths, type Route, useRoute } from './router.js';
import { clearKey, loadKey, saveKey } from './session.js';

// The Tester brings Ajv and the SDK's diagnosis: loaded when the page opens, not with the rest.
const TesterPage = lazy(() => import('./pages/tester.js').then((m) => ({ default: m.TesterPage })));

export function App() {
  const [key, setKey] = useState<string | null>(loadKey);
  const [notice, setNotice] = useState<string>();
  const route = useRoute();

  const signOut = useCallback((message?: string) => {
    clearKey();
    setKey(null);
    setNotice(message);
  }, []);

  const api = useMemo(
    () =>
      key
        ? createApi(key, () =>
            signOut(
              'Your API key is no longer accepted (it may have been revoked). Sign in again.',
            ),
          )
        : null,
    [key, signOut],
  );

  if (!api) {
    return (
      <SignInPage
        notice={notice}
        onSignedIn={(newKey) => {
          saveKey(newKey);
          setNotice(undefined);
          setKey(newKey);
        }}
      />
    );
  }

  return (
    <ApiContext.Provider value={api}>
      <header className="topbar">
        <a className="brand" href={paths.webhooks}>
          Agent Factory
        </a>
        <nav aria-label="Main">
          <a href={paths.webhooks} aria-current={isWebhookRoute(route) ? 'page' : undefined}>
            Webhooks
          </a>
          <a href={paths.catalog} aria-current={route.name === 'catalog' ? 'page' : undefined}>
            Event catalog
          </a>
          <a href={paths.tester} aria-current={route.name === 'tester' ? 'page' : undefined}>
            Tester
          </a>
          <a href={paths.apiKeys} aria-current={route.name === 'api-keys' ? 'page' : undefined}>
            API keys
          </a>
          <a href={paths.auditLog} aria-current={route.name === 'audit-log' ? 'page' : undefined}>
            Audit log
          </a>
          <button type="button" className="link" onClick={() => signOut('You are signed out.')}>
            Sign out
          </button>
        </nav>
      </header>
      <main>
        <Breadcrumbs route={route} />
        <Page route={route} />
      </main>
    </ApiContext.Provider>
  );
}

function isWebhookRoute(route: Route): boolean {
  return (
    route.name !== 'catalog' &&
    route.name !== 'not-found' &&
    route.name !== 'tester' &&
    route.name !== 'api-keys' &&
    route.name !== 'audit-log'
  );
}

function Breadcrumbs({ route }: { route: Route }) {
  if (route.name === 'api-keys' || route.name === 'audit-log') {
    return (
      <nav aria-label="Breadcrumb" className="breadcrumbs">
        <span>Settings</span> ›{' '}
        <span aria-current="page">{route.name === 'api-keys' ? 'API keys' : 'Audit log'}</span>
      </nav>
    );
  }
  if (!isWebhookRoute(route) && route.name !== 'tester') return null;
  return (
    <nav aria-label="Breadcrumb" className="breadcrumbs">
      <span>Settings</span> › <span>Integrations</span> ›{' '}
      {route.name === 'webhooks' ? (
        <span aria-current="page">Webhooks</span>
      ) : (
        <a href={paths.webhooks}>Webhooks</a>
      )}
      {route.name === 'tester' ? (
        <>
          {' '}
          › <span aria-current="page">Tester</span>
        </>
      ) : null}
    </nav>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'webhooks':
      return <WebhookListPage />;
    case 'new-webhook':
      return <WebhookCreatePage />;
    case 'webhook':
      if (isListenSessionId(route.id)) return <NotAWebhook id={route.id} />;
      return <WebhookDetailPage key={route.id} id={route.id} />;
    case 'edit-webhook':
      if (isListenSessionId(route.id)) return <NotAWebhook id={route.id} />;
      return <WebhookEditPage key={route.id} id={route.id} />;
    case 'delivery':
      return (
        <DeliveryPage key={route.deliveryId} webhookId={route.id} deliveryId={route.deliveryId} />
      );
    case 'catalog':
      return <EventCatalogPage />;
    case 'api-keys':
      return <ApiKeysPage />;
    case 'audit-log':
      return <AuditLogPage />;
    case 'tester':
      return (
        <Suspense fallback={<Loading what="the Tester" />}>
          <TesterPage key={route.webhookId} webhookId={route.webhookId} />
        </Suspense>
      );
    case 'not-found':
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            <a href={paths.webhooks}>Go to your webhooks</a>
          </p>
        </section>
      );
  }
}

/**
 * A delivery's `webhook_id` can be a listen session's: its address, written or linked from
 * elsewhere, says where sessions are instead of the webhooks API's 404.
 */
function NotAWebhook({ id }: { id: string }) {
  return (
    <section>
      <PageTitle>Listen session</PageTitle>
      <p>
        <code>{id}</code> is a listen session, not a webhook: the CLI's <code>listen</code> forwards
        its deliveries to a local URL.
      </p>
      <p>
        <a href={paths.tester}>See your listen sessions on the Tester</a>
      </p>
    </section>
  );
}
