/**
 * Parsers for BIRD 1.6 `show protocols` and `show route all` output (birdc
 * without -v), for end-to-end assertions on sessions and route attributes.
 *
 *   Mesh_10_77_0_2 BGP      master   up     18:24:15    Established
 *
 *   10.77.101.0/24     via 10.77.0.11 on eth0 [rr_10_77_0_1 18:40:01 from 10.77.0.1] * (100/0) [i]
 *   	Type: BGP unicast univ
 *   	BGP.originator_id: 10.77.0.11
 *   	BGP.cluster_list: 1.0.0.1 1.0.0.2
 *                      via 10.77.0.11 on eth0 [rr_10_77_0_2 18:40:01 from 10.77.0.2] (100/0) [i]
 */
import { birdSocketCommand } from '../../src/effects/bird-socket.js';
import type { Family } from './bird.js';

/**
 * One command on a BIRD control socket (birdSocketCommand: no birdc process;
 * the e2e tests poll 30 daemons and a process per poll is real load on two
 * cores). Returns the reply as `birdc` prints it without -v: reply codes
 * stripped ("1002-x" -> "x", continuation " x" -> "x"), the final "0000" line
 * dropped; a 8xxx/9xxx final reply rejects.
 */
export async function birdQuery(socket: string, command: string, timeoutMs = 10_000): Promise<string> {
  const out: string[] = [];
  for (const line of await birdSocketCommand(socket, command, timeoutMs)) {
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (m) {
      const code = m[1] ?? '';
      if (m[2] === ' ' && /^[89]/.test(code)) throw new Error(`${socket}: ${command}: ${code} ${m[3] ?? ''}`);
      if (code !== '0000') out.push(m[3] ?? '');
    } else if (line.startsWith(' ')) {
      out.push(line.slice(1));
    }
  }
  return out.join('\n');
}

export interface ProtocolRow {
  name: string;
  proto: string;
  state: string;
  /** BGP session state and any detail: "Established", "Active  Socket: ...", "Passive". */
  info: string;
}

export function parseProtocols(text: string): Map<string, ProtocolRow> {
  const out = new Map<string, ProtocolRow>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m || m[1] === 'name' || m[1] === 'BIRD') continue;
    out.set(m[1] ?? '', { name: m[1] ?? '', proto: m[2] ?? '', state: m[4] ?? '', info: (m[6] ?? '').trim() });
  }
  return out;
}

/** The BGP protocols of a BIRD and their session state. */
export async function bgpSessions(socket: string, _family?: Family): Promise<Map<string, ProtocolRow>> {
  const rows = parseProtocols(await birdQuery(socket, 'show protocols'));
  for (const [name, row] of rows) if (row.proto !== 'BGP') rows.delete(name);
  return rows;
}

export const isEstablished = (row: ProtocolRow | undefined): boolean =>
  row !== undefined && row.state === 'up' && row.info.startsWith('Established');

export interface RouteEntry {
  prefix: string;
  /** Protocol that the route came from, e.g. "rr_10_77_0_1". */
  protocol: string;
  primary: boolean;
  /** "BGP.originator_id" -> "10.77.0.11", ... */
  attrs: Map<string, string>;
}

export function parseRoutes(text: string): RouteEntry[] {
  const out: RouteEntry[] = [];
  let prefix = '';
  let cur: RouteEntry | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('\t')) {
      const m = /^\t([^:]+):\s?(.*)$/.exec(line);
      if (m && cur) cur.attrs.set(m[1] ?? '', (m[2] ?? '').trim());
      continue;
    }
    const m = /^(\S+)?\s+.*\[(\w+) [^\]]*\](\s+\*)?/.exec(line);
    if (!m) continue;
    if (m[1] !== undefined && /[./:]/.test(m[1])) prefix = m[1];
    cur = { prefix, protocol: m[2] ?? '', primary: m[3] !== undefined, attrs: new Map() };
    out.push(cur);
  }
  return out;
}

export async function routesAll(socket: string, _family?: Family, filter = ''): Promise<RouteEntry[]> {
  return parseRoutes(await birdQuery(socket, `show route all ${filter}`.trim()));
}

/** `BGP.cluster_list` as a set (BIRD 1.6 appends each cluster id; order is not asserted). */
export const clusterSet = (e: RouteEntry): string[] =>
  [...new Set((e.attrs.get('BGP.cluster_list') ?? '').split(/\s+/).filter((s) => s !== ''))].sort();
