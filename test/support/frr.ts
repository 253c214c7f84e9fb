/**
 * An FRR node (Debian package `frr`: /usr/lib/frr/bgpd and `vtysh`) inside a
 * network namespace: a third BGP implementation as a Calico node, iBGP to
 * its route reflectors over IPv4 and IPv6, each family on its own session.
 *
 * Only bgpd runs, without zebra (`-Z`: nothing is installed in a kernel
 * table, next hops count as reachable) and without a TCP vty (`-P 0`); its
 * config, pid file and vty socket live in the node's own directory (never
 * /etc/frr or /var/run/frr: the system's FRR service is not used and may stay
 * disabled). `vtysh --vty_socket DIR` reads FRR's own JSON.
 */
import { join } from 'node:path';
import { daemonAccount, runCli, startBgpDaemon, type BgpDaemon } from './bgp-daemon.js';
import { tempDir } from './processes.js';

export const BGPD_BIN = process.env['FRR_BGPD_BIN'] ?? '/usr/lib/frr/bgpd';
export const VTYSH_BIN = process.env['FRR_VTYSH_BIN'] ?? 'vtysh';

export interface FrrOptions {
  netns: string;
  routerId: string;
  as: number;
  /** This node's IPv4 address (source of its IPv4 sessions) and its route reflectors. */
  self: string;
  neighbors: readonly string[];
  /** This node's IPv6 address and its IPv6 route reflectors (none: IPv4 only). */
  self6?: string;
  neighbors6?: readonly string[];
  /** Prefixes this node originates, per family. */
  routes?: readonly string[];
  routes6?: readonly string[];
  dir?: string;
}

/** One session as FRR reports it (`show bgp neighbors json`). */
export interface FrrPeer {
  state: string;
  /** Times the session reached Established / left it, since bgpd started. */
  established: number;
  dropped: number;
}

/** One path of a prefix (`show bgp <afi> unicast json detail`). */
export interface FrrPath {
  /** The neighbor it was learned from ("0.0.0.0" / "::" for the node's own). */
  peer: string;
  nextHop: string;
  originatorId?: string;
  clusterList: string[];
  valid: boolean;
}

export interface FrrHandle extends BgpDaemon {
  /** `vtysh -c CMD` against this bgpd; stdout, throws on failure. */
  vtysh(cmd: string): Promise<string>;
  /** Neighbor address -> session state and counters. */
  peers(): Promise<Map<string, FrrPeer>>;
  /** Prefix -> its paths, for one family. */
  rib(family: 'v4' | 'v6'): Promise<Map<string, FrrPath[]>>;
}

function neighborLines(addrs: readonly string[], as: number, self: string): string {
  return addrs
    .map((n) => [` neighbor ${n} remote-as ${as}`, ` neighbor ${n} update-source ${self}`, ` neighbor ${n} timers connect 1`].join('\n'))
    .join('\n');
}

/**
 * bgpd's config. `frr defaults traditional`: no datacenter timers; `no bgp
 * default ipv4-unicast`: each session carries only its own family.
 */
export function frrConfig(o: FrrOptions): string {
  const v6 = o.self6 !== undefined ? (o.neighbors6 ?? []) : [];
  const af = (name: string, routes: readonly string[], peers: readonly string[]) =>
    [` address-family ${name} unicast`, ...routes.map((r) => `  network ${r}`), ...peers.map((n) => `  neighbor ${n} activate`), ' exit-address-family'].join(
      '\n',
    );
  return [
    'frr defaults traditional',
    `hostname ${o.netns}`,
    'log stdout informational',
    'debug bgp neighbor-events',
    `router bgp ${o.as}`,
    ` bgp router-id ${o.routerId}`,
    ' no bgp default ipv4-unicast',
    ' no bgp network import-check',
    neighborLines(o.neighbors, o.as, o.self),
    ...(o.self6 !== undefined ? [neighborLines(v6, o.as, o.self6)] : []),
    af('ipv4', o.routes ?? [], o.neighbors),
    ...(o.self6 !== undefined ? [af('ipv6', o.routes6 ?? [], v6)] : []),
    '',
  ].join('\n');
}

interface JsonPath {
  valid?: boolean;
  originatorId?: string;
  clusterList?: { list?: string[] };
  nexthops?: Array<{ ip?: string; scope?: string }>;
  peer?: { peerId?: string };
}

/** FRR's `json detail` RIB: each prefix's array starts with a header ({prefix, version}), then its paths. */
export function parseFrrRib(text: string): Map<string, FrrPath[]> {
  const json = JSON.parse(text) as { routes?: Record<string, Array<JsonPath & { prefix?: string }>> };
  const out = new Map<string, FrrPath[]>();
  for (const [prefix, entries] of Object.entries(json.routes ?? {})) {
    const paths: FrrPath[] = [];
    for (const e of entries) {
      if (e.peer === undefined) continue; // the header
      const hop = (e.nexthops ?? []).find((h) => h.scope !== 'link-local') ?? e.nexthops?.[0];
      const p: FrrPath = {
        peer: e.peer.peerId ?? '',
        nextHop: hop?.ip ?? '',
        clusterList: [...(e.clusterList?.list ?? [])],
        valid: e.valid === true,
      };
      if (e.originatorId !== undefined) p.originatorId = e.originatorId;
      paths.push(p);
    }
    out.set(prefix, paths);
  }
  return out;
}

export function parseFrrNeighbors(text: string): Map<string, FrrPeer> {
  const json = JSON.parse(text) as Record<string, { bgpState?: string; connectionsEstablished?: number; connectionsDropped?: number }>;
  const out = new Map<string, FrrPeer>();
  for (const [addr, n] of Object.entries(json)) {
    out.set(addr, { state: n.bgpState ?? '', established: n.connectionsEstablished ?? 0, dropped: n.connectionsDropped ?? 0 });
  }
  return out;
}

export async function startFrr(o: FrrOptions): Promise<FrrHandle> {
  const dir = o.dir ?? tempDir('rr-frr');
  let daemon: BgpDaemon | undefined;
  const account = (): string => (daemon ? `bgpd ${daemonAccount(daemon.pid, daemon.logPath)}` : 'bgpd not started yet');
  const vtysh = (cmd: string): Promise<string> => runCli(VTYSH_BIN, ['--vty_socket', dir, '-d', 'bgpd', '-c', cmd], `vtysh -c '${cmd}'`, account);
  daemon = await startBgpDaemon({
    netns: o.netns,
    dir,
    name: 'bgpd',
    configFile: 'bgpd.conf',
    config: frrConfig(o),
    logFile: 'bgpd.log',
    // -S: stay root (no frr user needed), -Z: no zebra, -n: no kernel routes, -P 0: no TCP vty.
    command: (cfg) => [BGPD_BIN, '-f', cfg, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir, '-S', '-Z', '-n', '-P', '0', '--log', 'stdout'],
    ready: () => vtysh('show bgp summary json'),
    what: `FRR bgpd vty in ${o.netns}`,
  });
  return {
    ...daemon,
    vtysh,
    peers: async () => parseFrrNeighbors(await vtysh('show bgp neighbors json')),
    rib: async (family) => parseFrrRib(await vtysh(`show bgp ${family === 'v4' ? 'ipv4' : 'ipv6'} unicast json detail`)),
  };
}
