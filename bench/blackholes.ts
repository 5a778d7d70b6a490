/**
 * Never-answering endpoints for the benchmark: `n` TCP servers on loopback (argument 1, default
 * 100), each on its own port, all in this one process. A server accepts every connection, reads
 * what is sent and discards it, never writes a byte, and keeps the socket open until the client
 * closes or resets it (a delivery's timeout). Plain `node:net`, so holding a thousand sockets costs
 * next to nothing and this process is never the bottleneck. The parent asks for counts over IPC.
 */
import { createServer, type Server, type Socket } from 'node:net';

const count = Number(process.argv[2] ?? 100);

/** Connections accepted, sockets open now, connections that sent at least one byte. */
let accepted = 0;
let open = 0;
let requests = 0;
let maxOpen = 0;
const sockets = new Set<Socket>();

function onConnection(socket: Socket) {
  accepted++;
  open++;
  if (open > maxOpen) maxOpen = open;
  sockets.add(socket);
  let sent = false;
  socket.on('data', () => {
    // Read and drop: the client's write completes, no answer ever comes.
    if (!sent) {
      sent = true;
      requests++;
    }
  });
  socket.on('error', () => {
    // a reset when the client gives up: nothing to do
  });
  socket.on('close', () => {
    open--;
    sockets.delete(socket);
  });
}

const servers: Server[] = [];
const ports = await Promise.all(
  Array.from(
    { length: count },
    () =>
      new Promise<number>((resolve, reject) => {
        const server = createServer(onConnection);
        server.once('error', reject);
        servers.push(server);
        server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, () => {
          resolve((server.address() as { port: number }).port);
        });
      }),
  ),
);

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    process.send?.({ type: 'stats', accepted, open, requests, maxOpen });
  } else if (msg.type === 'reset') {
    accepted = 0;
    requests = 0;
    maxOpen = open;
    process.send?.({ type: 'reset' });
  }
});
process.on('disconnect', () => process.exit(0));

process.send?.({ type: 'ready', ports });
