import { PageTitle } from '../components/page-title.js';
import { SignatureChecker } from '../components/signature-checker.js';

/** Settings → Integrations → Webhooks → Tester: send a test event; check a signature. */
export function TesterPage() {
  return (
    <section>
      <PageTitle>Tester</PageTitle>
      <p className="lead">
        Check why a receiver rejects a request's signature, without sending your secret anywhere.
      </p>
      <SignatureChecker />
    </section>
  );
}
