/**
 * The container's capability set (image/capabilities) is enough for BIRD, and
 * nothing in it is spare, on every dialect the project supports: BIRD 1.6 (the
 * host's), BIRD 2 and BIRD 3 (Debian 13's, scripts/birds.sh).
 *
 * Each dialect runs as the image runs it: a user (uid 65532, no root), its
 * bounding set exactly image/capabilities, holding exactly those capabilities
 * (here as ambient capabilities: in the image they come from the file
 * capability of /usr/sbin/bird, which the rootfs test boots). Its three BGP
 * sessions, to a BIRD 1.6 peer in another namespace, must reach Established:
 * a plain one, one with a TCP MD5 password and one with TTL security (GTSM).
 * The peer is passive, so every session is a connection to the RR's TCP 179.
 * Then:
 * - without the set (no capability at all), BIRD cannot open its listening
 *   socket: the set is not larger than it must be;
 * - BIRD's own privilege drop (`-u`/`-g`, started as root) does not start
 *   within the set (it chowns its control socket and asks capset() for
 *   NET_ADMIN, NET_RAW, NET_BROADCAST): which is why the image never runs BIRD
 *   as root at all (README "Least privilege").
 *
 * Heavy (namespaces, BIRD): part of `npm run test:image`.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc, startBird, type BirdHandle } from '../support/bird.js';
import { birdBins, dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { deleteNetns, vethPair } from '../support/netns.js';
import { killTracked, spawnTracked, tempDir, waitFor, type TrackedProcess } from '../support/processes.js';
import { capabilityMask as capMask, imageCapabilities, setprivCaps } from '../support/image.js';

const ENABLED = process.env['RR_IMAGE_TEST'] === '1';
const UID = 65532;
const AS = 64512;
const NS_RR = `rrcap${process.pid % 100000}-rr`;
const NS_PEER = `rrcap${process.pid % 100000}-peer`;

// One RR address per session and one peer address per session: BIRD 1.6 keeps
// one protocol per neighbour address.
const SESSIONS = [
  { name: 'p_plain', rr: '10.77.93.1', peer: '10.77.93.11', v1: '', v2: '' },
  { name: 'p_md5', rr: '10.77.93.2', peer: '10.77.93.12', v1: 'password "image-test";', v2: 'password "image-test"; authentication md5;' },
  { name: 'p_ttl', rr: '10.77.93.3', peer: '10.77.93.13', v1: 'ttl security on; direct;', v2: 'ttl security on; direct;' },
] as const;
const TIMERS = 'connect retry time 2; connect delay time 1; error wait time 1, 2;';

function rrConfig(d: Dialect): string {
  const v1 = d === 'bird1';
  const protos = SESSIONS.map(
    (s) =>
      `protocol bgp ${s.name} {\n  local ${s.rr} as ${AS};\n  neighbor ${s.peer} as ${AS};\n  rr client;\n  ${v1 ? s.v1 : s.v2}\n  ${TIMERS}\n` +
      (v1 ? '  import all;\n  export all;\n' : '  ipv4 { import all; export all; };\n') +
      '}\n',
  );
  return `router id ${SESSIONS[0].rr};\nlog stderr all;\nprotocol device {}\n\n${protos.join('\n')}`;
}

const peerConfig = (): string =>
  `router id ${SESSIONS[0].peer};\nlog stderr all;\nprotocol device {}\n\n` +
  SESSIONS.map(
    (s) => `protocol bgp ${s.name} {\n  local ${s.peer} as ${AS};\n  neighbor ${s.rr} as ${AS};\n  passive on;\n  ${s.v1}\n  ${TIMERS}\n  import all;\n  export all;\n}\n`,
  ).join('\n');

interface RrBird {
  proc: TrackedProcess;
  socket: string;
  log: string;
}

/** BIRD of dialect d in NS_RR under setpriv: as `who` ('user' = uid 65532 holding `caps`, 'root' = root bounded by `caps`). */
function startRr(d: Dialect, dir: string, caps: readonly string[], who: 'user' | 'root', extra: readonly string[] = []): RrBird {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // The control socket's directory belongs to whoever BIRD runs as (as /sockets in the image).
  if (who === 'user') chownSync(dir, UID, UID);
  const cfg = join(dir, 'bird.cfg');
  writeFileSync(cfg, rrConfig(d));
  const socket = join(dir, 'bird.ctl');
  const log = join(dir, 'bird.log');
  const set = setprivCaps(caps);
  const priv =
    who === 'user'
      ? ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', '--bounding-set', set, '--inh-caps', set, '--ambient-caps', set]
      : ['--bounding-set', set];
  const proc = spawnTracked('ip', ['netns', 'exec', NS_RR, 'setpriv', ...priv, '--', birdBins(d).v4, '-f', '-c', cfg, '-s', socket, ...extra], { logFile: log });
  return { proc, socket, log };
}

function capEff(pid: number): bigint {
  const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no CapEff for ${pid}`);
  return BigInt(`0x${m[1]}`);
}

const uidOf = (pid: number): string => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';

describe.skipIf(!ENABLED)('image/capabilities is what BIRD needs, per dialect', () => {
  const caps = imageCapabilities();
  let work: string;
  let peer: BirdHandle | undefined;

  beforeAll(async () => {
    work = tempDir('rr-caps');
    chmodSync(work, 0o755);
    await deleteNetns(NS_RR);
    await deleteNetns(NS_PEER);
    await vethPair(NS_RR, `${SESSIONS[0].rr}/24`, NS_PEER, `${SESSIONS[0].peer}/24`);
    for (const s of SESSIONS.slice(1)) {
      for (const [ns, a] of [
        [NS_RR, s.rr],
        [NS_PEER, s.peer],
      ] as const) {
        const r = spawnTracked('ip', ['-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
        expect(await r.exited).toEqual({ code: 0, signal: null });
      }
    }
    mkdirSync(join(work, 'peer'));
    peer = await startBird({ family: 'v4', config: peerConfig(), netns: NS_PEER, dir: join(work, 'peer') });
  }, 60_000);

  afterAll(async () => {
    await peer?.stop();
    await deleteNetns(NS_RR);
    await deleteNetns(NS_PEER);
  }, 30_000);

  it('image/capabilities lists capabilities by their kernel names', () => {
    expect(caps.length).toBeGreaterThan(0);
    for (const c of caps) expect(c).toMatch(/^[A-Z][A-Z_]+$/);
  });

  describe.each(['bird1', 'bird2', 'bird3'] as const)('%s', (d) => {
    it(`${dialectName(d)} as uid ${UID} with exactly the set: plain, MD5 and TTL-security sessions Established`, async () => {
      requireDialect(d);
      const rr = startRr(d, join(work, d, 'ok'), caps, 'user');
      try {
        const out = await waitFor(
          async () => {
            if (rr.proc.hasExited()) throw new Error(`BIRD exited:\n${readFileSync(rr.log, 'utf8')}`);
            const o = await birdc(rr.socket, 'show protocols').catch(() => '');
            return SESSIONS.every((s) => new RegExp(`^${s.name}\\s.*Established`, 'm').test(o)) ? o : undefined;
          },
          { what: `${dialectName(d)}: three sessions Established`, timeoutMs: 40_000, intervalMs: 250 },
        );
        expect(out).toMatch(/p_md5/);
        expect(uidOf(rr.proc.pid)).toBe(String(UID));
        expect(capEff(rr.proc.pid)).toBe(capMask(caps));
      } finally {
        await killTracked(rr.proc.pid);
      }
    }, 60_000);

    it(`${dialectName(d)} without any capability cannot listen on TCP 179`, async () => {
      requireDialect(d);
      const rr = startRr(d, join(work, d, 'none'), [], 'user');
      try {
        await waitFor(() => /Cannot open listening socket/.test(readFileSync(rr.log, 'utf8')), {
          what: `${dialectName(d)}: bind refused without NET_BIND_SERVICE`,
          timeoutMs: 20_000,
        });
        expect(readFileSync(rr.log, 'utf8')).toMatch(/bind: Permission denied/);
      } finally {
        await killTracked(rr.proc.pid);
      }
    }, 30_000);

    it(`${dialectName(d)}'s own privilege drop (-u/-g from root) does not start within the set`, async () => {
      requireDialect(d);
      const rr = startRr(d, join(work, d, 'uid'), caps, 'root', ['-u', String(UID), '-g', String(UID)]);
      const res = await Promise.race([rr.proc.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      if (res === undefined) await killTracked(rr.proc.pid);
      expect(res?.code).not.toBe(0);
      expect(readFileSync(rr.log, 'utf8')).toMatch(/Operation not permitted/);
    }, 30_000);
  });
});
