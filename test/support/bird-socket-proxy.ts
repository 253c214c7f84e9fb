/**
 * A unix-socket proxy in front of a BIRD control socket, for fault tests: it
 * relays both ways, and while `holdConfigure` is set it stops relaying
 * BIRD's reply on any connection that sent `configure` (BIRD still reads and
 * applies the file; the client never sees the end of the reply).
 */
import net from 'node:net';
import { tieSockets } from './socket-pair.js';

export interface BirdSocketProxy {
  /** Where clients connect (give this as BIRD_SOCKET). */
  readonly path: string;
  holdConfigure: boolean;
  close(): Promise<void>;
}

export async function birdSocketProxy(target: string, path: string): Promise<BirdSocketProxy> {
  const conns = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.createConnection({ path: target });
    let held = false;
    tieSockets(client, upstream, conns);
    client.on('data', (d: Buffer) => {
      if (proxy.holdConfigure && /^configure\b/m.test(d.toString('latin1'))) held = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!held) client.write(d);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  const proxy: BirdSocketProxy = {
    path,
    holdConfigure: false,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
