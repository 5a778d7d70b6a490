// Without the Webhooks class: verify and parse in your own route (here a Fetch-style handler).
import { constructEvent, WebhookVerificationError } from '@agentfactory/webhooks';

export async function POST(request: Request): Promise<Response> {
  const rawBody = await request.text(); // the raw body: never request.json() before verifying
  try {
    const event = await constructEvent(rawBody, request.headers, process.env.AF_WEBHOOK_SECRET!);
    if (event.event === 'usage.limit') console.log(`${event.data.metric} limit reached`);
    return Response.json({ ok: true });
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      return Response.json({ error: error.code }, { status: error.status });
    }
    throw error;
  }
}
