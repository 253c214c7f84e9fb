/**
 * A plain BIRD configured as a Calico node would be: iBGP to its route
 * reflectors, exporting its own prefixes (static routes), with session state
 * changes logged so a test can prove a session was never reset.
 */
import type { Family } from './bird.js';

export interface NodeBirdOptions {
  family: Family;
  routerId: string;
  /** This node's address in the family (source address). */
  self: string;
  /** Route reflector addresses to peer with. */
  rrs: readonly string[];
  as: number;
  /** Prefixes this node originates (e.g. 10.77.101.0/24). */
  routes?: readonly string[];
}

export const peerName = (addr: string): string => `rr_${addr.replace(/[.:]/g, '_')}`;

export function nodeBirdConfig(o: NodeBirdOptions): string {
  const statics = (o.routes ?? []).map((r) => `  route ${r} unreachable;`).join('\n');
  const peers = o.rrs
    .map(
      (rr) => `protocol bgp ${peerName(rr)} {
  debug { states };
  local as ${o.as};
  neighbor ${rr} as ${o.as};
  source address ${o.self};
  connect delay time 1;
  import all;
  export where proto = "originate";
}`,
    )
    .join('\n\n');
  return `router id ${o.routerId};
log stderr all;
protocol device { scan time 10; }
protocol static originate {
${statics}
}

${peers}
`;
}
