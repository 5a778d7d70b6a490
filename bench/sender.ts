/**
 * `npm run bench:sender` — the main thread's HTTP part of a delivery, alone: signed POSTs through
 * the service's own `Sender` (undici's `dispatch`, a `Cancel` per request as the engine makes)
 * to the benchmark's receiver process, `--in-flight` at once, and this process's CPU per request
 * (`process.cpuUsage`: the signing, the sender, undici and the garbage they leave). Each round
 * follows a warm-up round of the same size, so the JIT has compiled the path being measured. It
 * isolates the floor under the main thread's CPU per delivery that `npm run bench` reports.
 *
 *   npm run bench:sender -- [--requests 30000] [--in-flight 64] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { systemClock } from '../apps/server/src/clock.js';
import { Cancel, Sender } from '../apps/server/src/delivery/sender.js';
import { signBody, signStandard } from '../apps/server/src/delivery/signing.js';
import { newId } from '../apps/server/src/ids.js';
import { startReceiverProcess } from './lib/processes.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '30000' },
    'in-flight': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const requests = Number(args.requests);
const inFlight = Number(args['in-flight']);

const receiver = await startReceiverProcess(1);
const sender = new Sender({ allowPrivateNetworks: true, clock: systemClock });
const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
// The benchmark's event: a few hundred bytes of JSON.
const body = JSON.stringify({ event: 'agent.created', data: { note: 'x'.repeat(300) } });

async function round(n: number): Promise<void> {
  let sent = 0;
  const lane = async () => {
    while (sent < n) {
      sent++;
      const id = newId('evt');
      const timestamp = Math.floor(Date.now() / 1000);
      const result = await sender.send({
        url: receiver.urls[0]!,
        headers: {
          'Content-Type': 'application/json',
          'X-AgentFactory-Event-Id': id,
          'X-AgentFactory-Signature': signBody(body, secret),
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandard(body, secret, id, timestamp),
        },
        body,
        timeoutMs: 5000,
        cancel: new Cancel(),
      });
      if (!result.succeeded) throw new Error(`a request failed: ${result.error}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

try {
  for (let r = 0; r < Number(args.rounds); r++) {
    await round(requests);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await round(requests);
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `sender: ${requests} signed POSTs, ${inFlight} in flight: ` +
        `${((cpu.user + cpu.system) / requests).toFixed(1)} µs of CPU per request, ` +
        `${(requests / seconds).toFixed(0)}/s`,
    );
  }
} finally {
  await sender.close();
  receiver.stop();
}
