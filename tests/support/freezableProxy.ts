/**
 * A TCP proxy on 127.0.0.1 that can play a hung server: frozen, it reads
 * nothing from its clients (their writes back up until the kernel's buffers
 * are full) and holds new connections without answering; thawed, it drops the
 * connections that hung (as a server that recovers forgets its stale
 * sessions) and serves every connection that came since.
 */
import net from 'node:net';

export interface FreezableProxy {
  readonly port: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function freezableProxy(upstreamPort: number): Promise<FreezableProxy> {
  let frozen = false;
  const live = new Set<net.Socket>();
  const held: net.Socket[] = [];
  const pairs = new Map<net.Socket, net.Socket>();

  const connect = (client: net.Socket): void => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    pairs.set(client, upstream);
    live.add(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      pairs.delete(client);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const server = net.createServer((client) => {
    if (frozen) {
      client.pause();
      client.on('error', () => client.destroy());
      held.push(client);
    } else connect(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    freeze() {
      frozen = true;
      for (const client of live) {
        client.unpipe();
        client.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const client of [...live]) {
        pairs.get(client)?.destroy();
        client.destroy();
      }
      for (const client of held.splice(0)) {
        if (!client.destroyed) connect(client);
      }
    },
    async close() {
      for (const client of [...live, ...held]) client.destroy();
      for (const upstream of pairs.values()) upstream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
