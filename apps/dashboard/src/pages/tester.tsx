import { EventTester } from '../components/event-tester.js';
import { ListenSessions } from '../components/listen-sessions.js';
import { PageTitle } from '../components/page-title.js';
import { SignatureChecker } from '../components/signature-checker.js';

/**
 * Settings → Integrations → Webhooks → Tester: send a test event; check a signature; the
 * account's `listen` sessions.
 */
export function TesterPage({ webhookId }: { webhookId?: string | undefined }) {
  return (
    <section>
      <PageTitle>Tester</PageTitle>
      <p className="lead">
        Send any catalog event to a webhook, with its sample or your data, and see exactly what was
        sent and what came back. Check why a receiver rejects a request's signature, without sending
        your secret anywhere. Receive your account's events on your laptop with <code>listen</code>.
      </p>
      <EventTester initialWebhookId={webhookId} />
      <SignatureChecker />
      <ListenSessions />
    </section>
  );
}
