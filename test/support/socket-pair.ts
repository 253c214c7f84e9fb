import type { Socket } from 'node:net';

/** Track both ends of a proxied connection in `live`, and close both when either closes or fails. */
export function tieSockets(client: Socket, upstream: Socket, live: Set<Socket>): void {
  live.add(client).add(upstream);
  const drop = (): void => {
    client.destroy();
    upstream.destroy();
    live.delete(client);
    live.delete(upstream);
  };
  client.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
}
