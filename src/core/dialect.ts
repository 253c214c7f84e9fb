/**
 * BIRD dialects. The same plan is rendered for BIRD 1.6 (`bird` + `bird6`),
 * BIRD 2.x and BIRD 3.x; which one a family runs is read from its binary's
 * `--version` at start (effects/bird-check.ts `detectBirds`). Pure.
 *
 * - bird1: BIRD 1.6. Two binaries, `bird` (IPv4) and `bird6` (IPv6);
 *   `import`/`export` on the protocol.
 * - bird2: BIRD 2.x. One binary for both families, routes on channels
 *   (`ipv4 { ... }`, `ipv6 { ... }`). The agent still runs one daemon per
 *   family, each with its own socket and config (README "BIRD versions").
 * - bird3: BIRD 3.x. BIRD 2's config syntax (checked with 3.1's `bird -p` on
 *   the same files); its log lines and `bird -p` errors carry a timestamp and
 *   a thread number.
 */
import type { Family } from './events.js';

export const DIALECTS = ['bird1', 'bird2', 'bird3'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** What start-up learned about the BIRD of one family. */
export interface BirdDaemon {
  /** The binary the daemon runs and `bird -p` checks with (BIRD_BIN, BIRD6_BIN). */
  readonly bin: string;
  /** As the binary reports it, e.g. "2.17.6". */
  readonly version: string;
  readonly dialect: Dialect;
}

export type BirdDaemons = Readonly<Record<Family, BirdDaemon>>;

/** The template files of a dialect, relative to templates/. BIRD 3 reads BIRD 2's syntax. */
/** `channels`: filters, limits and next hop are channel options (BIRD 2 and 3), not protocol options (1.6); the session template is told. */
export const TEMPLATE_FILES: Readonly<Record<Dialect, { readonly config: string; readonly session: string; readonly channels: boolean }>> = {
  bird1: { config: 'bird1/config.njk', session: 'common/session.njk', channels: false },
  bird2: { config: 'bird2/config.njk', session: 'common/session.njk', channels: true },
  bird3: { config: 'bird2/config.njk', session: 'common/session.njk', channels: true },
};

export type VersionResult = { ok: true; version: string; dialect: Dialect } | { ok: false; reason: string };

/**
 * The dialect from `bird --version` output ("BIRD version 2.17.6", on
 * stderr). Supported: 1.6.x, 2.x, 3.x; anything else is refused with why.
 */
export function parseBirdVersion(output: string): VersionResult {
  const m = /^BIRD version (\d+)\.(\d+)(?:\.(\d+))?([-+~.\w]*)\s*$/m.exec(output);
  if (!m) {
    const first = output.trim().split('\n')[0]?.slice(0, 120) ?? '';
    return { ok: false, reason: first === '' ? 'no "BIRD version" line in its --version output' : `not a BIRD version line: ${JSON.stringify(first)}` };
  }
  const version = `${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ''}${m[4] ?? ''}`;
  const dialect = dialectOfVersion(version);
  return dialect !== undefined ? { ok: true, version, dialect } : { ok: false, reason: `BIRD ${version} is not supported (supported: 1.6, 2.x, 3.x)` };
}

/** The dialect of a version number ("2.17.6", as `show status` reports it too); undefined when unsupported. */
export function dialectOfVersion(version: string): Dialect | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return undefined;
  if (m[1] === '1' && m[2] === '6') return 'bird1';
  if (m[1] === '2') return 'bird2';
  if (m[1] === '3') return 'bird3';
  return undefined;
}

/**
 * BIRD6_BIN when it is not set: BIRD 1.6 has a separate `bird6`; BIRD 2 and
 * 3 run both families from one binary, so the IPv6 daemon is BIRD_BIN too.
 * s6/.lib/bird-bin, which s6/.lib/bird-run calls, applies the same rule.
 */
export function defaultBird6Bin(v4: BirdDaemon): string {
  return v4.dialect === 'bird1' ? 'bird6' : v4.bin;
}
