/**
 * The container image without Docker (`npm run test:image`), built and run
 * as the Dockerfile says:
 *
 * 1. a Debian 13 (trixie) minbase root (`scripts/trixie-root.sh`, a copy of
 *    the machine's cached debootstrap),
 * 2. `image/install.sh system NODE_TGZ` in it (the pinned Node 24 tarball of
 *    `scripts/image-node.sh`), the app laid out as the Dockerfile's COPY
 *    steps do (/app/{package.json,node_modules (production only),dist,
 *    templates,s6}), then `image/install.sh app`: the very script the
 *    Dockerfile runs (all of it: scripts/image-root.sh);
 * 3. booted as a container runtime runs the image, from the Dockerfile's own
 *    USER, ENV, VOLUME, ENTRYPOINT and HEALTHCHECK (test/support/image.ts):
 *    in new mount and PID namespaces (ENTRYPOINT is PID 1, it becomes
 *    s6-svscan), the root filesystem read-only with only the VOLUMEs
 *    writable, the capability bounding set exactly image/capabilities
 *    (`docker run --read-only --cap-drop ALL --cap-add ...`), in a network
 *    namespace with a real etcd; a BIRD 1.6 client node in another namespace,
 *    passive, so its session is a connection to the image's TCP 179;
 * 4. twice: as the image's USER (BIRD's only privilege is the file capability
 *    of /usr/sbin/bird), and as root with no_new_privs (`--user 0 --security-opt
 *    no-new-privileges`, Kubernetes' allowPrivilegeEscalation: false), the
 *    documented alternative;
 * 5. checks: the session Established, every process's uid and capabilities
 *    (only BIRD holds NET_BIND_SERVICE as the user), the HEALTHCHECK and
 *    `routereflector status` as `docker exec` runs them, SIGTERM to PID 1
 *    ends everything with exit 0.
 *
 * Needs root and the cached trixie root (or a Debian mirror). Skipped unless
 * RR_IMAGE_TEST=1 (set by `npm run test:image`) so that `npm test` stays fast.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc, startBird, type BirdHandle } from '../support/bird.js';
import { bootImage, capabilityMask, CHROOT_PATH, execInImage, imageCapabilities, imageRuntime } from '../support/image.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { nodeBirdConfig } from '../support/node-bird.js';
import { killAllTracked, killTracked, spawnTracked, tempDir, waitFor } from '../support/processes.js';
import { killNetnsProcesses, netnsPids, readComm, REPO, startNsEtcd, type NsEtcd } from '../support/s6.js';

const ENABLED = process.env['RR_IMAGE_TEST'] === '1';
const RR = '10.77.62.1';
const NODE = '10.77.62.2';
const AS = 64512;
const P = '/calico/bgp/v1';

const image = imageRuntime();
const caps = imageCapabilities();
const capMask = capabilityMask(caps);

let lab: Lab | undefined;
let host: LabHost;
let etcd: NsEtcd | undefined;
let node: BirdHandle | undefined;
let work: string;
let root: string;
const timings: Record<string, number> = {};
const sizes: Record<string, string> = {};

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = Date.now() - t0;
    console.log(`[image] ${name}: ${timings[name]} ms`);
  }
}

async function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const r = await execa(cmd, args, {
    reject: false,
    stdin: 'ignore',
    all: true,
    timeout: opts.timeoutMs ?? 600_000,
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
  });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.exitCode)}):\n${String(r.all).slice(-4000)}`);
  return String(r.all);
}

/** A command in the built root (private mount and PID namespaces with their own /proc). */
function inRoot(args: string[], timeoutMs?: number): Promise<string> {
  return run('unshare', ['--mount', '--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, 'chroot', root, ...args], {
    env: { PATH: CHROOT_PATH, HOME: '/root', LANG: 'C.UTF-8' },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
async function du(path: string, exclude: string[] = []): Promise<number> {
  const out = await run('du', ['-sxb', ...exclude.map((e) => `--exclude=${e}`), path]);
  return Number(out.split(/\s/)[0]);
}

/** The Dockerfile's runtime stage, without Docker: scripts/image-root.sh (the one recipe, for whatever runs the image's tree). */
async function buildImageRoot(): Promise<void> {
  const env = { ...(process.env as Record<string, string>) };
  await step('scripts/image-root.sh (Debian 13 root, install.sh system, the app, install.sh app)', () =>
    run('sh', [join(REPO, 'scripts/image-root.sh'), root], { env, timeoutMs: 1_500_000 }),
  );
  const minbase = join(process.env['RR_CACHE'] ?? '/var/cache/routereflector', 'trixie-minbase');
  const base = await du(minbase, [join(minbase, 'var/cache/apt'), join(minbase, 'var/lib/apt/lists')]);
  const total = await du(root);
  const app = await du(join(root, 'app'));
  sizes['Debian 13 minbase (without apt caches)'] = mb(base);
  sizes['added by install.sh system'] = mb(total - app - base);
  sizes['of which node'] = mb(statSync(join(root, 'usr/local/bin/node')).size);
  sizes['/app'] = mb(app);
  sizes['image root, total'] = mb(total);
  console.log(`[image] sizes ${JSON.stringify(sizes)}`);
}

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

describe.skipIf(!ENABLED)('the image root: Debian 13, install.sh, booted read-only with image/capabilities', () => {
  const uid = Number(image.user.split(':')[0]);

  beforeAll(async () => {
    work = tempDir('rr-image');
    root = join(work, 'root');
    await buildImageRoot();
    lab = await createLab(`rrim${process.pid % 100000}`);
    host = await lab.addHost('rr', `${RR}/24`);
    const peer = await lab.addHost('n1', `${NODE}/24`);
    etcd = await startNsEtcd(host.netns, join(work, 'etcd', 'data'));
    await etcd.put(`${P}/global/as_num`, String(AS));
    await etcd.put(`${P}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await etcd.put(`${P}/host/n1/ip_addr_v4`, NODE);
    await etcd.put(`${P}/host/n1/peer_v4/${RR}`, JSON.stringify({ ip: RR, as_num: AS }));
    // A Calico node, passive: the session exists only if the image's BIRD listens on TCP 179.
    const config = nodeBirdConfig({ family: 'v4', routerId: NODE, self: NODE, rrs: [RR], as: AS, routes: ['10.77.162.0/24'] }).replace('connect delay time 1;', 'passive on;');
    mkdirSync(join(work, 'n1'));
    node = await startBird({ family: 'v4', config, netns: peer.netns, dir: join(work, 'n1') });
  }, 1_500_000);

  afterAll(async () => {
    try {
      await node?.stop();
      if (lab) for (const h of lab.hosts.values()) await killNetnsProcesses(h.netns);
      await killAllTracked(2000);
      if (lab) await lab.destroy();
    } finally {
      // Never follow a mount: the bind mounts live in the (gone) private mount namespaces.
      if (work) rmSync(work, { recursive: true, force: true });
    }
    console.log(`[image] timings ${JSON.stringify(timings)}`);
    console.log(`[image] sizes ${JSON.stringify(sizes)}`);
  }, 120_000);

  it('installed what the image needs, and nothing of the build', async () => {
    for (const f of ['usr/sbin/bird', 'usr/sbin/birdc', 'usr/bin/s6-svscan', 'usr/bin/s6-svwait', 'usr/bin/s6-log', 'usr/bin/mawk', 'usr/local/bin/node', 'usr/local/bin/routereflector', 'usr/local/bin/routereflector-boot']) {
      expect(lstatSync(join(root, f)).isFile() || lstatSync(join(root, f)).isSymbolicLink(), f).toBe(true);
    }
    expect(await inRoot(['node', '--version'])).toMatch(new RegExp(`^v${/NODE_VERSION=(\S+)/.exec(readFileSync(join(REPO, 'image/node.env'), 'utf8'))?.[1]}\\s*$`));
    expect(await inRoot(['bird', '--version'])).toMatch(/BIRD version 2\.\d+/);
    expect(await run('getcap', [join(root, 'usr/sbin/bird')])).toMatch(/cap_net_bind_service=ep/);
    expect(await inRoot(['id', '-u', 'routereflector'])).toMatch(new RegExp(`^${uid}\\s*$`));
    // No set-user-ID or set-group-ID program: with privilege escalation allowed (for BIRD's file capability) none can be used.
    expect((await run('find', [root, '-xdev', '-type', 'f', '-perm', '/6000'])).trim()).toBe('');
    expect(existsSync(join(root, 'usr/sbin/setcap'))).toBe(false);
    for (const v of image.volumes) expect(statSync(join(root, v)).uid, v).toBe(uid);
    expect(readdirSync(join(root, 'app/node_modules'))).toContain('rxjs');
    expect(existsSync(join(root, 'app/node_modules/vitest'))).toBe(false);
    expect(readdirSync(join(root, 'var/lib/apt/lists'))).toEqual([]);
  });

  describe.each([
    { mode: `as the image's USER ${image.user}`, name: 'user', as: { uid, nnp: false } },
    { mode: 'as root with no_new_privs (--user 0 --security-opt no-new-privileges)', name: 'root', as: { uid: 0, nnp: true } },
  ])('booted $mode', ({ name, as }) => {
    it('peers through TCP 179, healthy, each process holding only what it must; SIGTERM to PID 1 ends it with exit 0', async () => {
      const t0 = Date.now();
      const b = await bootImage({ root, dir: join(work, `boot-${name}`), netns: host.netns, as, env: { IP: RR, ETCD_ENDPOINTS: etcd!.endpoint } });
      try {
        const nsPid = /NSpid:\s+(\d+)\s+(\d+)/.exec(readFileSync(`/proc/${b.pid1}/status`, 'utf8'));
        expect(nsPid?.[2]).toBe('1');
        const socket = join(b.volumes, image.env['BIRD_SOCKET'] ?? '/sockets/bird.ctl');
        const session = `Node_${NODE.replace(/\./g, '_')}`;
        await waitFor(
          async () => {
            if (b.hasExited()) throw new Error(`PID 1 exited:\n${readFileSync(b.log, 'utf8')}`);
            const out = await birdc(socket, 'show protocols').catch(() => '');
            return new RegExp(`^${session}\\s.*Established`, 'm').test(out);
          },
          { what: `${name}: ${session} Established on the image's BIRD`, timeoutMs: 60_000, intervalMs: 250 },
        ).catch((e: unknown) => {
          throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- PID 1's output:\n${readFileSync(b.log, 'utf8').slice(-3000)}`);
        });
        console.log(`[image] ${name}: PID 1 start -> session Established: ${Date.now() - t0} ms`);
        expect(await birdc(node!.socket, 'show protocols')).toMatch(/^rr_10_77_62_1\s.*Established/m);

        // Every process of the container: its uid, its bounding set, what it holds.
        // (those inside its PID namespace: NSpid has two entries; not the host-side unshare)
        const procs = (await netnsPids(host.netns)).filter((p) => p !== etcd!.process.pid && status(p)['NSpid']?.split(/\s+/).length === 2);
        const seen = new Set<string>();
        for (const p of procs) {
          const s = status(p);
          const comm = basename(readlinkSync(`/proc/${p}/exe`));
          seen.add(comm);
          expect(s['Uid']?.split(/\s+/)[0], `${comm} uid`).toBe(String(as.uid));
          expect(BigInt(`0x${s['CapBnd']}`), `${comm} bounding set`).toBe(capMask);
          expect(s['NoNewPrivs'], `${comm} no_new_privs`).toBe(as.nnp ? '1' : '0');
          const holds = as.uid === 0 || comm === 'bird' ? capMask : 0n;
          expect(BigInt(`0x${s['CapEff']}`), `${comm} effective`).toBe(holds);
          expect(BigInt(`0x${s['CapPrm']}`), `${comm} permitted`).toBe(holds);
        }
        expect([...seen].sort()).toEqual(['bird', 'mawk', 'node', 's6-supervise', 's6-svscan']);

        // As Docker's HEALTHCHECK and `docker exec` run them: inside the container, as its user.
        // (retried: /readyz turns 200 once BIRD runs the current generation, a moment after the session is up)
        const health = await waitFor(async () => ((await execInImage(b, as.uid, image.healthcheck)).trim() === 'healthy' ? 'healthy' : undefined), {
          what: `${name}: ${image.healthcheck.join(' ')} says healthy`,
          timeoutMs: 30_000,
          intervalMs: 500,
        });
        expect(health).toBe('healthy');
        expect(await execInImage(b, as.uid, ['routereflector', 'status'])).toMatch(new RegExp(`${session}.*Established`));

        const log = readFileSync(b.log, 'utf8');
        expect(log).toMatch(/^\{"service":"agent",.*"msg":"ready/m);
        expect(log).not.toMatch(/Permission denied|Read-only file system|EACCES|EROFS/);

        const s0 = Date.now();
        process.kill(b.pid1, 'SIGTERM');
        const res = await Promise.race([b.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
        console.log(`[image] ${name}: SIGTERM to PID 1 -> exit ${JSON.stringify(res)} after ${Date.now() - s0} ms`);
        expect(res).toEqual({ code: 0, signal: null });
        const left = (await netnsPids(host.netns)).filter((p) => p !== etcd!.process.pid);
        expect(left.map((p) => `${p}:${readComm(p) ?? '?'}`)).toEqual([]);
        expect(readFileSync(b.log, 'utf8')).toMatch(/^bird: .*Shutdown completed/m);
      } finally {
        // A failed case must not leave its container to the next one: PID 1's end ends its namespace.
        if (!b.hasExited()) {
          process.kill(b.pid1, 'SIGKILL');
          await b.exited;
        }
      }
    }, 180_000);
  });
});
