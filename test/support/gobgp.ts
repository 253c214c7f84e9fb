/**
 * A GoBGP node (Debian package `gobgpd`: /usr/bin/gobgpd and the `gobgp`
 * CLI) inside a network namespace: a second BGP implementation as a Calico
 * node, iBGP to its route reflectors. gobgpd's gRPC API listens on
 * 127.0.0.1:50051 inside the namespace, so the CLI runs there too.
 */
import { runCli, startBgpDaemon, type BgpDaemon } from './bgp-daemon.js';
import { tempDir } from './processes.js';

export interface GobgpOptions {
  netns: string;
  routerId: string;
  /** This node's address (source of the sessions). */
  self: string;
  as: number;
  /** Route reflector addresses. */
  neighbors: readonly string[];
  dir?: string;
}

export interface GobgpHandle extends BgpDaemon {
  /** `gobgp ARGS...` in the namespace; stdout, throws on failure. */
  cli(...args: string[]): Promise<string>;
  /** Neighbor address -> state column of `gobgp neighbor` ("Establ", "Active", ...). */
  neighbors(): Promise<Map<string, string>>;
  /** Prefixes in the global RIB (ipv4). */
  ribPrefixes(): Promise<string[]>;
}

export function gobgpConfig(o: GobgpOptions): string {
  const neighbors = o.neighbors
    .map(
      (n) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${n}"
    peer-as = ${o.as}
  [neighbors.transport.config]
    local-address = "${o.self}"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 90
    keepalive-interval = 30
`,
    )
    .join('');
  return `[global.config]
  as = ${o.as}
  router-id = "${o.routerId}"
  local-address-list = ["${o.self}"]
${neighbors}`;
}

export async function startGobgp(o: GobgpOptions): Promise<GobgpHandle> {
  const cli = (...args: string[]): Promise<string> =>
    runCli('ip', ['netns', 'exec', o.netns, 'gobgp', '-u', '127.0.0.1', '-p', '50051', ...args], `gobgp ${args.join(' ')}`);
  const daemon = await startBgpDaemon({
    netns: o.netns,
    dir: o.dir ?? tempDir('rr-gobgp'),
    name: 'gobgpd',
    configFile: 'gobgpd.toml',
    config: gobgpConfig(o),
    logFile: 'gobgpd.log',
    command: (cfg) => ['gobgpd', '-f', cfg, '-t', 'toml', '--api-hosts', '127.0.0.1:50051', '--pprof-disable', '-p', '-l', 'info'],
    ready: () => cli('global'),
    what: `gobgpd API in ${o.netns}`,
  });
  return {
    ...daemon,
    cli,
    async neighbors() {
      const out = new Map<string, string>();
      //   Peer          AS  Up/Down State       |#Received  Accepted
      //   10.77.0.3  64512 00:00:10 Establ      |        9         9
      for (const line of (await cli('neighbor')).split('\n')) {
        const m = /^\s*(\S+)\s+\d+\s+\S+\s+(\S+)\s*\|/.exec(line);
        if (m && m[1] !== 'Peer') out.set(m[1] ?? '', m[2] ?? '');
      }
      return out;
    },
    async ribPrefixes() {
      const out: string[] = [];
      for (const line of (await cli('global', 'rib', '-a', 'ipv4')).split('\n')) {
        const m = /^\S*\s+(\d+\.\d+\.\d+\.\d+\/\d+)\s/.exec(line);
        if (m) out.push(m[1] ?? '');
      }
      return out;
    },
  };
}
