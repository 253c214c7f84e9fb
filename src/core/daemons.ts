/**
 * The daemon of each family: BIRD for IPv4, BIRD6 for IPv6. One table for
 * its name (the s6 service, and what logs and /readyz call it) and the
 * setting that holds its control socket. Which binary and dialect it runs is
 * found at start (core/dialect.ts BirdDaemons).
 */
import type { AgentConfig } from './config.js';
import type { Family } from './events.js';

export interface Daemon {
  /** `bird` / `bird6`: the s6 service directory and the name in messages. */
  readonly name: string;
  readonly socket: (c: Pick<AgentConfig, 'birdSocket' | 'bird6Socket'>) => string;
}

export const DAEMONS: Readonly<Record<Family, Daemon>> = {
  v4: { name: 'bird', socket: (c) => c.birdSocket },
  v6: { name: 'bird6', socket: (c) => c.bird6Socket },
};
