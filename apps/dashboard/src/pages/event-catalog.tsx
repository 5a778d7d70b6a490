import { eventCatalog } from '@agentfactory/webhooks';
import { categoryOf, categoryTitles } from '../catalog.js';
import { PageTitle } from '../components/page-title.js';

/** Every event type with its description, JSON Schema and a sample payload. */
export function EventCatalogPage() {
  const groups = new Map<string, typeof eventCatalog>();
  for (const info of eventCatalog) {
    const category = categoryOf(info.name);
    groups.set(category, [...(groups.get(category) ?? []), info]);
  }
  return (
    <section>
      <PageTitle>Event catalog</PageTitle>
      <p className="lead">
        Each delivery's body is an envelope <code>{'{id, event, timestamp, data}'}</code>. Below is
        what <code>data</code> holds for each event. Fields may be added later: accept fields you do
        not know.
      </p>
      {[...groups].map(([category, events]) => (
        <section key={category} aria-labelledby={`cat-${category}`}>
          <h2 id={`cat-${category}`}>{categoryTitles[category] ?? category}</h2>
          {events.map((info) => (
            <article
              key={info.name}
              className="card event-type"
              aria-labelledby={`ev-${info.name}`}
            >
              <h3 id={`ev-${info.name}`}>
                <code>{info.name}</code>
              </h3>
              <p>{info.description}</p>
              <details>
                <summary>Sample payload</summary>
                <pre>
                  {JSON.stringify(
                    {
                      id: 'evt_01HMB7ZK2C8D9E0F1G2H3J4K5M',
                      event: info.name,
                      timestamp: '2024-01-15T10:35:00Z',
                      data: info.sample,
                    },
                    null,
                    2,
                  )}
                </pre>
              </details>
              <details>
                <summary>JSON Schema of data</summary>
                <pre>{JSON.stringify(info.schema, null, 2)}</pre>
              </details>
            </article>
          ))}
        </section>
      ))}
    </section>
  );
}
