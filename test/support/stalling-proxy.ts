/**
 * A TCP proxy on 127.0.0.1 that can stop forwarding: connections stay open (and new ones are
 * accepted) but no byte goes through, which is how an API server that stops answering looks from
 * the client — no reset, no error, only silence.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy. */
export interface StallingProxy {
  port: number;
  /** Stops forwarding, in both directions, on every connection old and new. */
  stall(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`). */
export async function startStallingProxy(targetHost: string, targetPort: number): Promise<StallingProxy> {
  let stalled = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server = createServer((client) => {
    track(client);
    if (stalled) {
      client.pause(); // accepted, never answered
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (!stalled) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy did not bind');
  return {
    port: address.port,
    stall() {
      stalled = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
