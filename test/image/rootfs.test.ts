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
 *    Dockerfile runs;
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
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc, startBird, type BirdHandle } from '../support/bird.js';
import { imageCapabilities, imageRuntime } from '../support/image.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { nodeBirdConfig } from '../support/node-bird.js';
import { killAllTracked, killTracked, spawnTracked, tempDir, waitFor } from '../support/processes.js';
import { killNetnsProcesses, netnsPids, readComm, REPO, startNsEtcd, type NsEtcd } from '../support/s6.js';

const ENABLED = process.env['RR_IMAGE_TEST'] === '1';
const RR = '10.77.62.1';
const NODE = '10.77.62.2';
const AS = 64512;
const P = '/calico/bgp/v1';
const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const image = imageRuntime();
const caps = imageCapabilities();
const CAP_BITS: Record<string, number> = { NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13 };
const capMask = caps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c] ?? Number.NaN)), 0n);
const setprivCaps = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');

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

/** A build step (Dockerfile RUN): in the root, private mount and PID namespaces with their own /proc. */
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

/** Production dependencies only (what `npm prune --omit=dev` keeps in the Dockerfile). */
async function productionModules(): Promise<string[]> {
  const out = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { env: { ...(process.env as Record<string, string>) } });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(join(REPO, 'node_modules') + '/'))
    .map((l) => relative(REPO, l));
}

/** The Dockerfile's runtime stage, step by step. */
async function buildImageRoot(): Promise<void> {
  await step('Debian 13 root (scripts/trixie-root.sh)', () => run('sh', [join(REPO, 'scripts/trixie-root.sh'), root], { env: { ...(process.env as Record<string, string>) }, timeoutMs: 1_200_000 }));
  const base = await du(root, [join(root, 'var/cache/apt'), join(root, 'var/lib/apt/lists')]);
  const tgz = (await step('Node tarball (scripts/image-node.sh)', () => run('sh', [join(REPO, 'scripts/image-node.sh')], { env: { ...(process.env as Record<string, string>) } }))).trim();
  cpSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
  // RUN --mount=type=bind,source=image,target=/tmp/image --mount=...node.tgz,target=/tmp/node.tgz
  cpSync(join(REPO, 'image'), join(root, 'tmp/image'), { recursive: true });
  cpSync(tgz, join(root, 'tmp/node.tgz'));
  await step('install.sh system', () => inRoot(['sh', '/tmp/image/install.sh', 'system', '/tmp/node.tgz'], 900_000));
  rmSync(join(root, 'tmp/node.tgz'));
  const system = await du(root);
  await step('COPY the app', async () => {
    const app = join(root, 'app');
    mkdirSync(app, { recursive: true });
    cpSync(join(REPO, 'package.json'), join(app, 'package.json'));
    for (const m of await productionModules()) cpSync(join(REPO, m), join(app, m), { recursive: true });
    for (const dir of ['dist', 'templates', 's6']) cpSync(join(REPO, dir), join(app, dir), { recursive: true });
  });
  await step('install.sh app', () => inRoot(['sh', '/tmp/image/install.sh', 'app']));
  rmSync(join(root, 'tmp/image'), { recursive: true });
  const total = await du(root);
  sizes['Debian 13 minbase (without apt caches)'] = mb(base);
  sizes['added by install.sh system'] = mb(system - base);
  sizes['of which node'] = mb(statSync(join(root, 'usr/local/bin/node')).size);
  sizes['/app'] = mb(await du(join(root, 'app')));
  sizes['image root, total'] = mb(total);
  console.log(`[image] sizes ${JSON.stringify(sizes)}`);
}

interface Boot {
  /** The `ip netns exec … unshare` process (host view); its child is the container's PID 1. */
  pid1: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  log: string;
  volumes: string;
}

/**
 * Boot the root as a runtime runs the image: new mount and PID namespaces,
 * the root read-only and only the VOLUMEs writable (fresh, owned as the image
 * has them), bounding set = image/capabilities, then ENTRYPOINT as `user`.
 */
async function boot(name: string, as: { uid: number; nnp: boolean }): Promise<Boot> {
  const volumes = join(work, `boot-${name}`, 'volumes');
  const log = join(work, `boot-${name}`, 'pid1.log');
  mkdirSync(volumes, { recursive: true });
  const binds = image.volumes.map((v) => {
    const dir = join(volumes, v);
    // As Docker fills a new volume: from the image's directory (owner, mode).
    const st = statSync(join(root, v));
    mkdirSync(dir, { recursive: true, mode: st.mode & 0o7777 });
    return `chown ${st.uid}:${st.gid} '${dir}' && chmod ${(st.mode & 0o7777).toString(8)} '${dir}' && mount --bind '${dir}' '${join(root, v)}'`;
  });
  const who = as.uid === 0 ? [] : ['--reuid', String(as.uid), '--regid', String(as.uid), '--clear-groups'];
  const setpriv = ['setpriv', ...who, '--bounding-set', setprivCaps, '--inh-caps', '-all', ...(as.nnp ? ['--no-new-privs'] : []), '--', ...image.entrypoint];
  const script = [
    'set -eu',
    'mount --make-rprivate /',
    `mount --bind '${root}' '${root}'`,
    `mount -o remount,bind,ro '${root}'`,
    ...binds,
    `mount -t proc proc '${join(root, 'proc')}'`,
    `exec chroot '${root}' ${setpriv.map((a) => `'${a}'`).join(' ')}`,
  ].join('\n');
  const env = { PATH: CHROOT_PATH, ...image.env, IP: RR, ETCD_ENDPOINTS: etcd!.endpoint };
  const p = spawnTracked('ip', ['netns', 'exec', host.netns, 'unshare', '--mount', '--pid', '--fork', 'sh', '-c', script], { logFile: log, env });
  const pid1 = await waitFor(
    () => {
      if (p.hasExited()) throw new Error(`boot exited: ${readFileSync(log, 'utf8')}`);
      const kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      const k = kids[0];
      return k !== undefined && readComm(k) === 's6-svscan' ? k : undefined;
    },
    { what: `${name}: s6-svscan as PID 1`, timeoutMs: 15_000 },
  );
  return { pid1, exited: p.exited, hasExited: p.hasExited, log, volumes };
}

/** `docker exec [--user U] CONTAINER CMD`: the container's namespaces, root and cwd, its environment. */
function exec(b: Boot, uid: number, cmd: string[]): Promise<string> {
  const user = uid === 0 ? [] : ['--setuid', String(uid), '--setgid', String(uid)];
  return run('nsenter', ['--target', String(b.pid1), '--mount', '--net', '--pid', '--root', '--wd', ...user, '--', ...cmd], {
    env: { PATH: CHROOT_PATH, ...image.env },
    timeoutMs: 20_000,
  });
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
      const b = await boot(name, as);
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
        const health = await waitFor(async () => ((await exec(b, as.uid, image.healthcheck)).trim() === 'healthy' ? 'healthy' : undefined), {
          what: `${name}: ${image.healthcheck.join(' ')} says healthy`,
          timeoutMs: 30_000,
          intervalMs: 500,
        });
        expect(health).toBe('healthy');
        expect(await exec(b, as.uid, ['routereflector', 'status'])).toMatch(new RegExp(`${session}.*Established`));

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
