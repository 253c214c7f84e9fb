/**
 * What the image declares, read from its sources so that the tests run the
 * image as it is built: image/capabilities (the container's capability set,
 * one a line, `#` comments) and the runtime stage of the Dockerfile (USER,
 * ENV, VOLUME, ENTRYPOINT, HEALTHCHECK); and an image root
 * (scripts/image-root.sh) booted and entered as a container runtime does.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { spawnTracked, waitFor } from './processes.js';
import { readComm, REPO } from './s6.js';

export function imageCapabilities(text = readFileSync(join(REPO, 'image', 'capabilities'), 'utf8')): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}

export interface ImageRuntime {
  /** USER, e.g. "65532:65532". */
  user: string;
  env: Record<string, string>;
  volumes: string[];
  entrypoint: string[];
  /** The HEALTHCHECK's CMD (exec form). */
  healthcheck: string[];
}

/** The Dockerfile's last stage. Only the forms this Dockerfile uses: exec-form JSON arrays, ENV name=value pairs. */
export function imageRuntime(text = readFileSync(join(REPO, 'Dockerfile'), 'utf8')): ImageRuntime {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const last = lines.reduce((at, l, i) => (/^FROM\s/i.test(l) ? i : at), 0);
  const r: ImageRuntime = { user: '0', env: {}, volumes: [], entrypoint: [], healthcheck: [] };
  for (const l of lines.slice(last)) {
    const m = /^(\w+)\s+(.*)$/.exec(l.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    const [, op, rest] = m;
    const args = rest.trim();
    switch (op.toUpperCase()) {
      case 'USER':
        r.user = args;
        break;
      case 'ENV':
        for (const kv of args.split(/\s+/)) {
          const eq = kv.indexOf('=');
          if (eq <= 0) throw new Error(`Dockerfile ENV: expected name=value, got ${kv}`);
          r.env[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        break;
      case 'VOLUME':
        r.volumes.push(...(JSON.parse(args) as string[]));
        break;
      case 'ENTRYPOINT':
        r.entrypoint = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK': {
        const cmd = /\bCMD\s+(\[.*\])\s*$/.exec(args);
        if (!cmd?.[1]) throw new Error('Dockerfile HEALTHCHECK: expected CMD [...]');
        r.healthcheck = JSON.parse(cmd[1]) as string[];
        break;
      }
      default:
    }
  }
  return r;
}

/** PATH inside the image (Docker's default). */
export const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const CAP_BITS: Record<string, number> = { NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13 };

/** A capability set as /proc/PID/status shows it (CapEff, CapBnd: hex bit mask). */
export function capabilityMask(caps: readonly string[]): bigint {
  return caps.reduce((m, c) => {
    const bit = CAP_BITS[c];
    if (bit === undefined) throw new Error(`capabilityMask: add ${c} to CAP_BITS`);
    return m | (1n << BigInt(bit));
  }, 0n);
}

/** setpriv's form of a set: `-all,+net_bind_service`. */
export const setprivCaps = (caps: readonly string[]): string => ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');

export interface ImageBoot {
  /** The container's PID 1 (host view): ENTRYPOINT, become s6-svscan. */
  pid1: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** PID 1's stdout and stderr (`docker logs`). */
  log: string;
  /** Host directory holding the fresh VOLUMEs (e.g. `${volumes}/sockets/bird.ctl`). */
  volumes: string;
}

export interface BootImageOptions {
  /** An image root from scripts/image-root.sh. */
  root: string;
  /** A fresh directory for the volumes and the log. */
  dir: string;
  netns: string;
  /** uid 65532 (the image's USER) or 0; no_new_privs or not. Default: the Dockerfile's USER, no_new_privs off. */
  as?: { uid: number; nnp: boolean };
  /** `docker run -e`: added to the Dockerfile's ENV. */
  env?: Record<string, string>;
}

/**
 * Boot an image root as a container runtime runs the image (`docker run
 * --read-only --cap-drop ALL --cap-add <image/capabilities> [--user]`), in
 * `netns`: new mount and PID namespaces, the root read-only and only the
 * Dockerfile's VOLUMEs writable (fresh, owned and moded as the image has
 * them), bounding set = image/capabilities, the Dockerfile's ENV, then its
 * ENTRYPOINT as PID 1. Resolves once PID 1 is s6-svscan. The caller ends it
 * (SIGTERM to pid1, as `docker stop`; SIGKILL ends the whole namespace).
 */
export async function bootImage(o: BootImageOptions): Promise<ImageBoot> {
  const image = imageRuntime();
  const as = o.as ?? { uid: Number(image.user.split(':')[0]), nnp: false };
  const volumes = join(o.dir, 'volumes');
  const log = join(o.dir, 'pid1.log');
  mkdirSync(volumes, { recursive: true });
  const binds = image.volumes.map((v) => {
    const dir = join(volumes, v);
    const st = statSync(join(o.root, v));
    const mode = (st.mode & 0o7777).toString(8);
    mkdirSync(dir, { recursive: true });
    return `chown ${st.uid}:${st.gid} '${dir}' && chmod ${mode} '${dir}' && mount --bind '${dir}' '${join(o.root, v)}'`;
  });
  const who = as.uid === 0 ? [] : ['--reuid', String(as.uid), '--regid', String(as.uid), '--clear-groups'];
  const setpriv = ['setpriv', ...who, '--bounding-set', setprivCaps(imageCapabilities()), '--inh-caps', '-all', ...(as.nnp ? ['--no-new-privs'] : []), '--', ...image.entrypoint];
  const script = [
    'set -eu',
    'mount --make-rprivate /',
    `mount --bind '${o.root}' '${o.root}'`,
    `mount -o remount,bind,ro '${o.root}'`,
    ...binds,
    `mount -t proc proc '${join(o.root, 'proc')}'`,
    `exec chroot '${o.root}' ${setpriv.map((a) => `'${a}'`).join(' ')}`,
  ].join('\n');
  const env = { PATH: CHROOT_PATH, ...image.env, ...(o.env ?? {}) };
  const p = spawnTracked('ip', ['netns', 'exec', o.netns, 'unshare', '--mount', '--pid', '--fork', 'sh', '-c', script], { logFile: log, env });
  const pid1 = await waitFor(
    () => {
      if (p.hasExited()) throw new Error(`image boot exited: ${readFileSync(log, 'utf8')}`);
      const kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      const k = kids[0];
      return k !== undefined && readComm(k) === 's6-svscan' ? k : undefined;
    },
    { what: `${o.dir}: s6-svscan as PID 1`, timeoutMs: 15_000 },
  );
  const boot = { pid1, exited: p.exited, hasExited: p.hasExited, log, volumes };
  booted.add(boot);
  void p.exited.then(() => booted.delete(boot));
  return boot;
}

/** Every image root booted here and still running: ended by killAllImages (a killed wrapper would leave its PID namespace running). */
const booted = new Set<ImageBoot>();

/** SIGKILL to the PID 1 of every booted image (the kernel ends each whole PID namespace); synchronous, for exit hooks too. */
export function killAllImages(): void {
  for (const b of booted) {
    try {
      process.kill(b.pid1, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** `docker exec [--user UID] CONTAINER CMD`: the container's namespaces, root and cwd, the Dockerfile's ENV. */
export async function execInImage(b: ImageBoot, uid: number, cmd: readonly string[]): Promise<string> {
  const user = uid === 0 ? [] : ['--setuid', String(uid), '--setgid', String(uid)];
  const r = await execa('nsenter', ['--target', String(b.pid1), '--mount', '--net', '--pid', '--root', '--wd', ...user, '--', ...cmd], {
    env: { PATH: CHROOT_PATH, ...imageRuntime().env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    all: true,
    timeout: 20_000,
  });
  if (r.exitCode !== 0) throw new Error(`in the image: ${cmd.join(' ')} failed (${String(r.exitCode)}): ${String(r.all).slice(-2000)}`);
  return String(r.all);
}
