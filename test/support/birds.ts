/**
 * Where the tests find each BIRD dialect's binaries. BIRD 1.6 is the host's
 * (`bird`, `bird6`, `birdc`); BIRD 2.17 and 3.1 are Debian 13's, run through
 * the wrappers scripts/birds.sh leaves in $RR_BIRDS_DIR (default
 * /var/cache/routereflector/bin; scripts/install-deps.sh runs it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dialect } from '../../src/core/dialect.js';
import type { Family } from '../../src/core/events.js';

export const BIRDS_DIR = process.env['RR_BIRDS_DIR'] ?? '/var/cache/routereflector/bin';

export interface DialectBins {
  /** The daemon (and `bird -p`) of each family. */
  readonly bird: Readonly<Record<Family, string>>;
  /** A birdc that speaks to either family's socket. */
  readonly birdc: string;
  /** The version `--version` and `show status` report. */
  readonly version: string;
}

export const DIALECT_BINS: Readonly<Record<Dialect, DialectBins>> = {
  bird1: { bird: { v4: '/usr/sbin/bird', v6: '/usr/sbin/bird6' }, birdc: '/usr/sbin/birdc', version: '1.6.8' },
  bird2: { bird: { v4: join(BIRDS_DIR, 'bird2'), v6: join(BIRDS_DIR, 'bird2') }, birdc: join(BIRDS_DIR, 'birdc2'), version: '2.17.6' },
  bird3: { bird: { v4: join(BIRDS_DIR, 'bird3'), v6: join(BIRDS_DIR, 'bird3') }, birdc: join(BIRDS_DIR, 'birdc3'), version: '3.1.8' },
};

/** The binaries of a dialect; throws with how to get them when they are missing (CI: scripts/install-deps.sh). */
export function dialectBins(dialect: Dialect): DialectBins {
  const b = DIALECT_BINS[dialect];
  for (const bin of [b.bird.v4, b.bird.v6, b.birdc]) {
    if (!existsSync(bin)) throw new Error(`${bin} missing: run scripts/birds.sh (BIRD 2/3) or install bird (BIRD 1.6); RR_BIRDS_DIR=${BIRDS_DIR}`);
  }
  return b;
}
