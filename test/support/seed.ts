/**
 * The seed README's topology (with its cluster typo corrected): RR1..RR6 in
 * three clusters, nodes N1..N9 each peering with their rack's two RRs.
 */
import type { KeyValue } from '../../src/core/events.js';
import { PREFIX } from '../../src/core/config.js';

export interface SeedOptions {
  rrIp?: (i: number) => string;
  nodeIp?: (i: number) => string;
  rr6Ip?: (i: number) => string;
  node6Ip?: (i: number) => string;
  asNum?: number;
}

export const seedRr = (i: number): string => `10.0.0.${i}`;
export const seedNode = (i: number): string => `10.0.1.${i}`;
export const seedRr6 = (i: number): string => `fd00::${i}`;
export const seedNode6 = (i: number): string => `fd00::1:${i}`;
/** Cluster of RR i (1..6): 1.0.0.1 for RR1/RR2, 1.0.0.2 for RR3/RR4, 1.0.0.3 for RR5/RR6. */
export const seedCluster = (i: number): string => `1.0.0.${Math.ceil(i / 2)}`;
/** The two RRs of node i (1..9). */
export const seedRrsOfNode = (i: number): [number, number] => {
  const rack = Math.ceil(i / 3);
  return [rack * 2 - 1, rack * 2];
};

export function seedTopology(o: SeedOptions = {}): KeyValue[] {
  const rr = o.rrIp ?? seedRr;
  const node = o.nodeIp ?? seedNode;
  const as = o.asNum ?? 64512;
  const kvs: KeyValue[] = [{ key: `${PREFIX}/global/as_num`, value: String(as) }];
  for (let i = 1; i <= 6; i++) {
    kvs.push({ key: `${PREFIX}/rr_v4/${rr(i)}`, value: JSON.stringify({ ip: rr(i), cluster_id: seedCluster(i) }) });
    if (o.rr6Ip) {
      const ip6 = o.rr6Ip(i);
      kvs.push({ key: `${PREFIX}/rr_v6/${ip6}`, value: JSON.stringify({ ip: ip6, cluster_id: seedCluster(i) }) });
    }
  }
  for (let n = 1; n <= 9; n++) {
    const name = `n${n}`;
    kvs.push({ key: `${PREFIX}/host/${name}/ip_addr_v4`, value: node(n) });
    kvs.push({ key: `${PREFIX}/host/${name}/as_num`, value: String(as) });
    if (o.node6Ip) kvs.push({ key: `${PREFIX}/host/${name}/ip_addr_v6`, value: o.node6Ip(n) });
    for (const r of seedRrsOfNode(n)) {
      kvs.push({ key: `${PREFIX}/host/${name}/peer_v4/${rr(r)}`, value: JSON.stringify({ ip: rr(r), as_num: as }) });
      if (o.rr6Ip) {
        const ip6 = o.rr6Ip(r);
        kvs.push({ key: `${PREFIX}/host/${name}/peer_v6/${ip6}`, value: JSON.stringify({ ip: ip6, as_num: as }) });
      }
    }
  }
  return kvs;
}
