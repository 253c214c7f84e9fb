/**
 * Which BIRD a test's route reflectors run: BIRD 1.6 (`bird` + `bird6`, the
 * host's Debian 12 package), BIRD 2 or BIRD 3 (Debian 13's, one binary for
 * both families, run here through the wrappers of scripts/birds.sh). The
 * Calico nodes of the labs stay on BIRD 1.6.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIALECTS, type Dialect } from '../../src/core/dialect.js';
import type { Family } from './bird.js';

export { DIALECTS, type Dialect };

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where scripts/birds.sh leaves the BIRD 2/3 wrappers. */
export const BIRDS_BIN_DIR = join(process.env['RR_CACHE'] ?? '/var/cache/routereflector', 'bin');

/** The daemon binary per family, as the agent's BIRD_BIN / BIRD6_BIN and the s6 run scripts take it. */
export function birdBins(d: Dialect): Record<Family, string> {
  if (d === 'bird1') return { v4: '/usr/sbin/bird', v6: '/usr/sbin/bird6' };
  const bin = join(BIRDS_BIN_DIR, d);
  return { v4: bin, v6: bin };
}

/** A birdc of the dialect (it speaks to either family's socket): birdc, birdc2, birdc3. */
export function birdcBin(d: Dialect): string {
  return d === 'bird1' ? '/usr/sbin/birdc' : join(BIRDS_BIN_DIR, d.replace('bird', 'birdc'));
}

/** The version its binaries report (`--version`, `show status`). */
export const DIALECT_VERSION: Readonly<Record<Dialect, string>> = { bird1: '1.6.8', bird2: '2.17.6', bird3: '3.1.8' };

/** `BIRD_BIN`/`BIRD6_BIN` for the agent (and s6) of a route reflector on dialect `d`. */
export function birdEnv(d: Dialect): Record<string, string> {
  const b = birdBins(d);
  return { BIRD_BIN: b.v4, BIRD6_BIN: b.v6 };
}

/** A readable name for test titles and figures. */
export const dialectName = (d: Dialect): string => ({ bird1: 'BIRD 1.6', bird2: 'BIRD 2', bird3: 'BIRD 3' })[d];

/** Throws a clear error when the dialect's binary is not installed (scripts/birds.sh makes BIRD 2/3). */
export function requireDialect(d: Dialect): void {
  const b = birdBins(d);
  for (const bin of new Set([b.v4, b.v6, birdcBin(d)])) {
    if (!existsSync(bin)) throw new Error(`${dialectName(d)}: ${bin} missing (run scripts/install-deps.sh, which runs scripts/birds.sh)`);
  }
}

/** A dialect named by an environment variable (e.g. RR_DIALECT), validated. */
export function dialectFromEnv(name: string, fallback: Dialect): Dialect {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!(DIALECTS as readonly string[]).includes(v)) throw new Error(`${name}=${v}: expected one of ${DIALECTS.join(', ')}`);
  return v as Dialect;
}

/**
 * The BIRD the image ships, read from the packages image/install.sh installs
 * (the one script the Dockerfile and `npm run test:image` run): `bird3`,
 * `bird2`, or Debian 12's `bird` (1.6). `RR_IMAGE_DIALECT` overrides it.
 */
export function imageDialect(installScript = join(REPO, 'image', 'install.sh')): Dialect {
  if (process.env['RR_IMAGE_DIALECT']) return dialectFromEnv('RR_IMAGE_DIALECT', 'bird1');
  const packages = readFileSync(installScript, 'utf8')
    .split('\n')
    .filter((l) => /\bapt-get\b.*\binstall\b/.test(l))
    .flatMap((l) => l.split(/\s+/));
  if (packages.includes('bird3')) return 'bird3';
  if (packages.includes('bird2')) return 'bird2';
  return 'bird1';
}

/** The dialects the BIRD-dependent reliability tests run on: BIRD 1.6 and the image's BIRD. */
export function reliabilityDialects(): Dialect[] {
  return [...new Set<Dialect>(['bird1', imageDialect()])];
}
