// tcp-to-unix.mjs HOST PORT SOCKET: listen on HOST:PORT (in the network namespace it is run in)
// and carry every connection to the Unix socket SOCKET (test/support/image-rr.ts: a container's
// way to the tests' etcd). Runs until killed.
import net from 'node:net';

const [host, port, socket] = process.argv.slice(2);
if (!host || !port || !socket) {
  console.error('usage: tcp-to-unix.mjs HOST PORT SOCKET');
  process.exit(2);
}
net
  .createServer((c) => {
    const u = net.connect(socket);
    const end = () => {
      c.destroy();
      u.destroy();
    };
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
    c.pipe(u);
    u.pipe(c);
  })
  .listen(Number(port), host);
