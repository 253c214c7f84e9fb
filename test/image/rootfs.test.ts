/**
 * The container image's steps without Docker (`npm run test:image`):
 *
 * 1. a Debian bookworm root filesystem (`debootstrap --variant=minbase`;
 *    cached as a tarball under .state/image-cache/ unless RR_IMAGE_FRESH=1),
 * 2. the very script the Dockerfile runs (`image/install.sh`), in a chroot,
 * 3. the app as the Dockerfile lays it out: /app/{dist,node_modules (production
 *    only),templates,s6,package.json}, `routereflector` on PATH, node in
 *    /usr/local/bin (the node:20-bookworm-slim layout, here the host's node),
 * 4. the s6 tree booted as PID 1 of a new PID namespace
 *    (`unshare --pid --fork --mount-proc chroot ROOT s6-svscan /app/s6`)
 *    inside a network namespace where a real etcd runs,
 * 5. checks: the three services up (agent ready), both BIRDs answer, the
 *    HEALTHCHECK script says healthy; SIGTERM to that PID 1 ends it with exit
 *    0 and leaves nothing running.
 *
 * Needs root, debootstrap and a Debian mirror (DEBIAN_MIRROR, default
 * deb.debian.org). Skipped unless RR_IMAGE_TEST=1 (set by `npm run test:image`)
 * so that `npm test` stays fast.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc } from '../support/bird.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { killAllTracked, killTracked, spawnTracked, tempDir, waitFor, type TrackedProcess } from '../support/processes.js';
import { killNetnsProcesses, netnsPids, readComm, REPO, startNsEtcd, svstat, type NsEtcd } from '../support/s6.js';

const ENABLED = process.env['RR_IMAGE_TEST'] === '1';
const MIRROR = process.env['DEBIAN_MIRROR'] ?? 'http://deb.debian.org/debian';
const CACHE = join(REPO, '.state', 'image-cache', 'bookworm-minbase.tar.gz');
const RR = '10.77.62.1';
const P = '/calico/bgp/v1';

let lab: Lab | undefined;
let host: LabHost;
let etcd: NsEtcd | undefined;
let work: string;
let root: string;
let pid1Parent: TrackedProcess | undefined;
const timings: Record<string, number> = {};

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

const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Run a command in the rootfs, in private mount and PID namespaces (with its own /proc). */
function inRoot(args: string[], timeoutMs?: number): Promise<string> {
  return run('unshare', ['--mount', '--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, 'chroot', root, ...args], {
    env: { PATH: CHROOT_PATH, HOME: '/root', LANG: 'C.UTF-8' },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
}

async function buildRootfs(): Promise<void> {
  mkdirSync(root, { recursive: true });
  if (process.env['RR_IMAGE_FRESH'] !== '1' && existsSync(CACHE)) {
    await step('rootfs from cache', () => run('tar', ['-xzf', CACHE, '-C', root, '--numeric-owner']));
    return;
  }
  await step('debootstrap --variant=minbase bookworm', () =>
    run('debootstrap', ['--variant=minbase', 'bookworm', root, MIRROR], { timeoutMs: 900_000 }),
  );
  mkdirSync(dirname(CACHE), { recursive: true });
  await step('cache rootfs', () => run('tar', ['-czf', `${CACHE}.tmp`, '--numeric-owner', '-C', root, '.']));
  await run('mv', [`${CACHE}.tmp`, CACHE]);
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

async function installApp(): Promise<void> {
  const app = join(root, 'app');
  mkdirSync(app, { recursive: true });
  for (const dir of ['dist', 'templates', 's6']) cpSync(join(REPO, dir), join(app, dir), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(app, 'package.json'));
  for (const m of await productionModules()) cpSync(join(REPO, m), join(app, m), { recursive: true });
  // The node:20-bookworm-slim layout: node in /usr/local/bin.
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  cpSync(process.execPath, join(root, 'usr/local/bin/node'));
  symlinkSync('/app/dist/src/main.js', join(root, 'usr/local/bin/routereflector'));
}

describe.skipIf(!ENABLED)('image steps in a debootstrapped rootfs', () => {
  beforeAll(async () => {
    work = tempDir('rr-image');
    root = join(work, 'root');
    await buildRootfs();
    writeFileSync(join(root, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
    cpSync(join(REPO, 'image/install.sh'), join(root, 'tmp/install.sh'));
    await step('image/install.sh in chroot', () => inRoot(['sh', '/tmp/install.sh'], 900_000));
    await step('add the app', installApp);
    lab = await createLab(`rrim${process.pid % 100000}`);
    host = await lab.addHost('rr', `${RR}/24`);
    etcd = await startNsEtcd(host.netns, join(work, 'etcd', 'data'));
    await etcd.put(`${P}/global/as_num`, '64512');
    await etcd.put(`${P}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
  }, 1_500_000);

  afterAll(async () => {
    try {
      if (lab) for (const h of lab.hosts.values()) await killNetnsProcesses(h.netns);
      await killAllTracked(2000);
      if (lab) await lab.destroy();
    } finally {
      // Never follow a mount: --mount-proc mounts live in the (gone) private mount namespace.
      if (work) rmSync(work, { recursive: true, force: true });
    }
    console.log(`[image] timings ${JSON.stringify(timings)}`);
  }, 120_000);

  it('installed what the image needs', () => {
    for (const f of ['usr/sbin/bird', 'usr/sbin/bird6', 'usr/sbin/birdc', 'usr/sbin/birdc6', 'usr/bin/s6-svscan', 'usr/bin/s6-svwait', 'usr/bin/s6-log', 'usr/bin/mawk']) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
    expect(existsSync(join(root, 'config'))).toBe(true);
    expect(existsSync(join(root, 'sockets'))).toBe(true);
    expect(readdirSync(join(root, 'app/node_modules'))).toContain('rxjs');
    expect(existsSync(join(root, 'app/node_modules/vitest'))).toBe(false);
  });

  it('boots the s6 tree as PID 1, healthy; SIGTERM to PID 1 ends it with exit 0', async () => {
    const out = join(work, 'pid1.log');
    const t0 = Date.now();
    pid1Parent = spawnTracked(
      'ip',
      ['netns', 'exec', host.netns, 'unshare', '--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, 'chroot', root, '/usr/bin/s6-svscan', '/app/s6'],
      {
        logFile: out,
        env: { PATH: CHROOT_PATH, IP: RR, ETCD_ENDPOINTS: etcd!.endpoint, CONFIG_DIR: '/config', BIRD_SOCKET: '/sockets/bird.ctl', BIRD6_SOCKET: '/sockets/bird6.ctl', LOG_FORMAT: 'json' },
      },
    );
    const parent = pid1Parent;
    // unshare --fork: the child (host view) is the namespace's PID 1, s6-svscan.
    const pid1 = await waitFor(
      () => {
        if (parent.hasExited()) throw new Error(`unshare exited: ${readFileSync(out, 'utf8')}`);
        const kids = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        const k = kids[0];
        return k !== undefined && readComm(k) === 's6-svscan' ? k : undefined;
      },
      { what: 's6-svscan as PID 1', timeoutMs: 10_000 },
    );
    const nsPid = /NSpid:\s+(\d+)\s+(\d+)/.exec(readFileSync(`/proc/${pid1}/status`, 'utf8'));
    expect(nsPid?.[2]).toBe('1');

    const scan = join(root, 'app/s6');
    await waitFor(
      async () => {
        const a = await svstat(join(scan, 'agent'));
        const b = await svstat(join(scan, 'bird'));
        const b6 = await svstat(join(scan, 'bird6'));
        // (PIDs in s6-svstat are PID-namespace PIDs: ask the sockets instead.)
        if (!(a.up && a.ready && b.up && b6.up)) return false;
        const v4 = await birdc(join(root, 'sockets/bird.ctl'), 'show status', 'v4').catch(() => '');
        const v6 = await birdc(join(root, 'sockets/bird6.ctl'), 'show status', 'v6').catch(() => '');
        return /Daemon is up and running/.test(v4) && /Daemon is up and running/.test(v6);
      },
      { what: 'agent ready, bird and bird6 running in the image tree', timeoutMs: 60_000, intervalMs: 200 },
    );
    console.log(`[image] PID 1 start -> all three services up: ${Date.now() - t0} ms`);
    await waitFor(async () => /Daemon is up and running/.test(await birdc(join(root, 'sockets/bird.ctl'), 'show status', 'v4')), { what: 'bird answers' });
    await waitFor(async () => /Daemon is up and running/.test(await birdc(join(root, 'sockets/bird6.ctl'), 'show status', 'v6')), { what: 'bird6 answers' });
    // As Docker's HEALTHCHECK runs it: inside the container's network (the agent's /readyz is on its loopback).
    const health = await run('ip', ['netns', 'exec', host.netns, 'chroot', root, '/app/s6/.lib/healthcheck'], { env: { PATH: CHROOT_PATH } });
    expect(health.trim()).toBe('healthy');

    const log = readFileSync(out, 'utf8');
    expect(log).toMatch(/^\{"service":"agent",.*"msg":"ready/m);
    expect(log).toMatch(/^bird: .*<INFO> Started/m);

    const s0 = Date.now();
    process.kill(pid1, 'SIGTERM');
    const res = await Promise.race([parent.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    const stopMs = Date.now() - s0;
    console.log(`[image] SIGTERM to PID 1 -> exit ${JSON.stringify(res)} after ${stopMs} ms`);
    if (res === undefined) await killTracked(parent.pid, 0);
    expect(res).toEqual({ code: 0, signal: null });
    const left = (await netnsPids(host.netns)).filter((p) => p !== etcd!.process.pid);
    expect(left.map((p) => `${p}:${readComm(p) ?? '?'}`)).toEqual([]);
    expect(readFileSync(out, 'utf8')).toMatch(/^bird: .*Shutdown completed/m);
  }, 180_000);
});
