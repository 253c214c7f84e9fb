/**
 * A unix-socket proxy in front of a BIRD control socket, for fault tests: it
 * relays both ways, and
 * - while `holdConfigure` is set it stops relaying BIRD's reply on any
 *   connection that sent `configure` (BIRD still reads and applies the file;
 *   the client never sees the end of the reply);
 * - while `reject` returns true, a `configure "FILE"` is passed to BIRD as
 *   `configure "<rejectDir>/rejected.cfg"`, a copy of FILE with one statement
 *   BIRD does not know appended: BIRD's own parser rejects it (`8002
 *   .../rejected.cfg:L:C syntax error`) and keeps running its config;
 * - `onReply(command, reply)` sees each command and BIRD's complete reply
 *   before the reply is relayed (e.g. to SIGKILL the client between BIRD's
 *   acceptance and anything the client does with it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tieSockets } from './socket-pair.js';

export interface BirdSocketProxy {
  /** Where clients connect (give this as BIRD_SOCKET). */
  readonly path: string;
  holdConfigure: boolean;
  /** Consulted per `configure "FILE"`: true makes BIRD read a rejected copy of FILE. */
  reject: () => boolean;
  /** Called with the command as the client sent it and BIRD's reply lines, before they are relayed. */
  onReply: ((command: string, reply: readonly string[]) => void) | undefined;
  close(): Promise<void>;
}

const CONFIGURE_FILE = /^configure "([^"]+)"\s*$/;

export async function birdSocketProxy(target: string, path: string, rejectDir?: string): Promise<BirdSocketProxy> {
  const conns = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.createConnection({ path: target });
    let held = false;
    /** The command sent on this connection (one per connection, like birdc -c / the agent), and its reply so far. */
    let command: string | undefined;
    let reply = '';
    tieSockets(client, upstream, conns);
    client.on('data', (d: Buffer) => {
      let text = d.toString('latin1');
      if (proxy.holdConfigure && /^configure\b/m.test(text)) held = true;
      const line = text.split('\n')[0] ?? '';
      const m = CONFIGURE_FILE.exec(line);
      if (m && rejectDir !== undefined && proxy.reject()) {
        const copy = join(rejectDir, 'rejected.cfg');
        writeFileSync(copy, `${readFileSync(m[1]!, 'latin1')}protocol bogus { }\n`);
        text = text.replace(line, `configure "${copy}"`);
      }
      if (command === undefined && line.trim() !== '') command = line;
      upstream.write(Buffer.from(text, 'latin1'));
    });
    upstream.on('data', (d: Buffer) => {
      if (held) return;
      if (command !== undefined && proxy.onReply !== undefined) {
        reply += d.toString('latin1');
        const lines = reply.split('\n');
        if (lines.some((l) => /^\d{4} /.test(l))) {
          const hook = proxy.onReply;
          const sent = command;
          command = undefined;
          reply = '';
          hook(sent, lines.filter((l) => l !== ''));
        }
      }
      client.write(d);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  const proxy: BirdSocketProxy = {
    path,
    holdConfigure: false,
    reject: () => false,
    onReply: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
