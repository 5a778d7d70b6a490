/**
 * A hostile HTTP receiver on loopback built on `node:net`, so the bytes on the wire are exactly
 * what the test says: any status line, header bytes llhttp may or may not accept, NUL and
 * invalid UTF-8 in bodies, endless bodies, garbage instead of HTTP, resets, silence.
 *
 * The server reads one request per connection (head up to `\r\n\r\n`, then `Content-Length`
 * bytes of body), then hands the connection to the test's `behavior`. It records, per
 * connection, the delivery id the request carried (`X-AgentFactory-Delivery`) and the exact body
 * bytes written after the head (the first 64 KiB), so an attempt record can be compared with what
 * this connection sent. Every loop is bounded: the endless writers stop at the socket's close or
 * at a byte cap (`endlessCapHit` says if it was ever reached), the trickle at a tick cap.
 * `close()` destroys every socket still open (which stops their writers) and closes the listener.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';

/** What the server read of one request. */
export interface RawRequest {
  /** The request line and headers, as latin-1 text. */
  head: string;
  /** Header names lowercased → last value. */
  headers: Record<string, string>;
  body: Buffer;
}

/** One connection, as the test's behavior sees it and as the test checks it afterwards. */
export interface RawConnection {
  socket: Socket;
  request: RawRequest | undefined;
  /** `X-AgentFactory-Delivery` of the request ('' before it was read). */
  deliveryId: string;
  /** Writes bytes of the status line and headers (not counted as body). */
  head(bytes: Buffer | string): void;
  /** Writes body bytes (recorded, the first `RECORD_LIMIT` of them). */
  body(bytes: Buffer | string): boolean;
  /** Ends the connection after what was written. */
  end(): void;
  /** The first `RECORD_LIMIT` body bytes written. */
  bodySent(): Buffer;
  /** Every body byte written, counted. */
  bodyBytesWritten: number;
  /** True once the socket closed (by either side). */
  closed: boolean;
  /** Body bytes written after the socket closed: must stay 0. */
  writesAfterClose: number;
  /** Set by endless writers when their byte cap stopped them (the client never closed). */
  endlessCapHit: boolean;
}

export type RawBehavior = (conn: RawConnection) => void;

export interface RawServer {
  url: string;
  port: number;
  connections: RawConnection[];
  /** Connections whose request was read completely (one per attempt). */
  requests(): RawConnection[];
  /** The connection that carried a delivery's (latest) attempt. */
  forDelivery(deliveryId: string): RawConnection | undefined;
  close(): Promise<void>;
}

const RECORD_LIMIT = 64 * 1024;
const HEAD_LIMIT = 64 * 1024;
const BODY_LIMIT = 1024 * 1024;
const SOCKET_LIFETIME_MS = 60_000;

export async function startRawServer(behavior: RawBehavior): Promise<RawServer> {
  const connections: RawConnection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    // A last bound: nothing a test does keeps a socket for more than a minute.
    socket.setTimeout(SOCKET_LIFETIME_MS, () => socket.destroy());
    const recorded: Buffer[] = [];
    let recordedBytes = 0;
    const conn: RawConnection = {
      socket,
      request: undefined,
      deliveryId: '',
      head(bytes) {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      },
      body(bytes) {
        const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
        if (conn.closed || socket.destroyed || !socket.writable) {
          conn.writesAfterClose += buf.length;
          return false;
        }
        if (recordedBytes < RECORD_LIMIT) {
          const part = buf.subarray(0, RECORD_LIMIT - recordedBytes);
          recorded.push(part);
          recordedBytes += part.length;
        }
        conn.bodyBytesWritten += buf.length;
        return socket.write(buf);
      },
      end() {
        if (!socket.destroyed) socket.end();
      },
      bodySent: () => Buffer.concat(recorded),
      bodyBytesWritten: 0,
      closed: false,
      writesAfterClose: 0,
      endlessCapHit: false,
    };
    connections.push(conn);
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });

    let buffered = Buffer.alloc(0);
    let headEnd = -1;
    let contentLength = 0;
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (headEnd < 0) {
        headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) {
          if (buffered.length > HEAD_LIMIT) socket.destroy();
          return;
        }
        const head = buffered.subarray(0, headEnd).toString('latin1');
        const headers: Record<string, string> = {};
        for (const line of head.split('\r\n').slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0)
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        contentLength = Number(headers['content-length'] ?? '0');
        if (
          !Number.isSafeInteger(contentLength) ||
          contentLength < 0 ||
          contentLength > BODY_LIMIT
        ) {
          socket.destroy();
          return;
        }
        conn.request = { head, headers, body: Buffer.alloc(0) };
        conn.deliveryId = headers['x-agentfactory-delivery'] ?? '';
      }
      const bodyStart = headEnd + 4;
      if (buffered.length - bodyStart < contentLength) return;
      socket.off('data', onData);
      conn.request!.body = buffered.subarray(bodyStart, bodyStart + contentLength);
      behavior(conn);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections,
    requests: () => connections.filter((c) => c.request !== undefined),
    forDelivery: (id) => connections.filter((c) => c.deliveryId === id).at(-1),
    async close() {
      // Destroying a socket also stops its endless writer or trickle timer (both stop on close).
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- behaviors ------------------------------------------------------------------------------

/** The head of a response: status line and header lines, each given as exact bytes. */
export function rawHead(statusLine: string, headerLines: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`${statusLine}\r\n`, 'latin1')];
  for (const line of headerLines) {
    parts.push(typeof line === 'string' ? Buffer.from(line, 'latin1') : line);
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** A complete answer: the status line, the headers, `Content-Length`, the body, then close. */
export function answer(
  status: string,
  body: Buffer,
  headerLines: (string | Buffer)[] = ['Content-Type: text/plain'],
): RawBehavior {
  return (c) => {
    c.head(
      rawHead(`HTTP/1.1 ${status}`, [
        ...headerLines,
        `Content-Length: ${body.length}`,
        'Connection: close',
      ]),
    );
    c.body(body);
    c.end();
  };
}

/** Any bytes instead of an HTTP response, then close. */
export function garbage(bytes: Buffer): RawBehavior {
  return (c) => {
    c.head(bytes);
    c.end();
  };
}

/** A TCP reset right after the request was read. */
export function reset(): RawBehavior {
  return (c) => {
    c.socket.resetAndDestroy();
  };
}

/** Closes the connection (FIN, no answer) right after the request was read. */
export function hangUp(): RawBehavior {
  return (c) => {
    c.socket.destroy();
  };
}

/** Reads the request and never answers (the socket stays open until the client gives up). */
export function blackHole(): RawBehavior {
  return () => {};
}

/**
 * A 200 with no length whose body never ends: `chunk` written as fast as the client reads it,
 * until the client closes the socket, or `capBytes` (then `endlessCapHit`, and the socket is
 * destroyed).
 */
export function endless(chunk: Buffer, capBytes = 64 * 1024 * 1024): RawBehavior {
  return (c) => {
    c.head(rawHead('HTTP/1.1 200 OK', ['Content-Type: text/plain', 'Connection: close']));
    const pump = () => {
      while (!c.closed && !c.socket.destroyed) {
        if (c.bodyBytesWritten >= capBytes) {
          c.endlessCapHit = true;
          c.socket.destroy();
          return;
        }
        if (!c.body(chunk)) {
          if (!c.closed && !c.socket.destroyed) c.socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
}

/**
 * A 200 with no length whose body trickles: `chunk` every `everyMs`, until the client closes,
 * or `maxTicks` (then `endlessCapHit`, and the socket is destroyed).
 */
export function trickle(chunk: Buffer, everyMs = 50, maxTicks = 600): RawBehavior {
  return (c) => {
    c.head(rawHead('HTTP/1.1 200 OK', ['Content-Type: text/plain', 'Connection: close']));
    c.body(chunk);
    let ticks = 0;
    const timer = setInterval(() => {
      if (c.closed || c.socket.destroyed) {
        clearInterval(timer);
        return;
      }
      if (++ticks > maxTicks) {
        c.endlessCapHit = true;
        clearInterval(timer);
        c.socket.destroy();
        return;
      }
      c.body(chunk);
    }, everyMs);
    c.socket.once('close', () => clearInterval(timer));
  };
}
