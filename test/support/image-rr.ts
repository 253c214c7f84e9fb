/**
 * A route reflector run from the image root (scripts/image-root.sh) as users
 * run the image: booted by bootImage in its host's network namespace (new
 * mount and PID namespaces, s6-svscan as PID 1, read-only root, only the
 * VOLUMEs writable, the image's capability set and user), seen from outside
 * through what a container gives: its log (PID 1's stdout: the agent's JSON
 * lines and each BIRD's lines, tagged by s6/.lib/log-filter), its volumes
 * (`/config`, `/sockets`) and its processes.
 *
 * etcd runs outside every lab namespace (the tests' own client talks to it),
 * so each container reaches it the way a host-networked pod reaches etcd
 * through a local endpoint: a forwarder in the host's namespace listens on
 * 127.0.0.1:2379 and carries each connection over a Unix socket to the
 * tests' process, which connects it to etcd (etcdBridge).
 */
import { appendFileSync, closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { LogLine } from './agent.js';
import type { BirdHandle, Family } from './bird.js';
import { bootImage, type ImageBoot } from './image.js';
import { killTracked, spawnTracked, waitFor, type TrackedProcess } from './processes.js';
import { readComm, REPO } from './s6.js';
import { tieSockets } from './socket-pair.js';

const FORWARDER = join(REPO, 'test', 'support', 'tcp-to-unix.mjs');

/** The tests' end of every container's etcd connection: a Unix socket at `path` connected to etcd's TCP `endpoint`. */
export async function etcdBridge(endpoint: string, path: string): Promise<{ close(): Promise<void> }> {
  const url = new URL(endpoint);
  const conns = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const t = net.connect(Number(url.port), url.hostname);
    tieSockets(c, t, conns);
    c.pipe(t);
    t.pipe(c);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of conns) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The agent as the container's log shows it. */
export interface ImageAgent {
  /** Its host PID (for CPU and RSS figures). */
  readonly pid: number;
  readonly lines: LogLine[];
  find(match: (l: LogLine) => boolean, from?: number): LogLine[];
  waitForLine(match: (l: LogLine) => boolean, what: string, opts?: { from?: number; timeoutMs?: number }): Promise<LogLine>;
}

export interface ImageRr {
  readonly boot: ImageBoot;
  /** The `/config` volume: bird.cfg, bird6.cfg, the journal. */
  readonly configDir: string;
  readonly agent: ImageAgent;
  readonly bird: BirdHandle;
  readonly bird6?: BirdHandle;
  /** `docker stop`: SIGTERM to PID 1, SIGKILL (the whole PID namespace) after a grace. */
  stop(): Promise<void>;
}

export interface StartImageRrOptions {
  root: string;
  /** A fresh directory for the volumes, the log and the forwarder. */
  dir: string;
  netns: string;
  /** The etcdBridge's socket. */
  etcdSocket: string;
  /** `docker run -e` (ETCD_ENDPOINTS is set here). */
  env: Record<string, string>;
  /** IP6 is set: wait for bird6's BGP sessions' daemon too. */
  ipv6: boolean;
  readyTimeoutMs?: number;
}

/** Host PIDs of every descendant of `pid` (/proc/PID/task/*\/children). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    for (const k of kids) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/**
 * The container's log split by service, brought up to date on every read:
 * the agent's JSON lines parsed, each BIRD's lines (their tag removed)
 * appended to a file of its own, as a BIRD started by the tests logs.
 */
class ContainerLog {
  #offset = 0;
  #partial = '';
  readonly agentLines: LogLine[] = [];
  constructor(
    private readonly path: string,
    private readonly birdLogs: Record<'bird' | 'bird6', string>,
  ) {
    for (const p of Object.values(birdLogs)) writeFileSync(p, '');
  }
  refresh(): void {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size <= this.#offset) return;
    const fd = openSync(this.path, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      text = this.#partial + buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    const out: Record<'bird' | 'bird6', string[]> = { bird: [], bird6: [] };
    for (const l of lines) {
      if (l.startsWith('{"service":"agent",')) {
        try {
          const { service: _, ...line } = JSON.parse(l) as LogLine & { service: string };
          this.agentLines.push(line as LogLine);
        } catch {
          this.agentLines.push({ msg: l, unparsed: true });
        }
      } else if (l.startsWith('bird: ')) out.bird.push(l.slice(6));
      else if (l.startsWith('bird6: ')) out.bird6.push(l.slice(7));
    }
    for (const svc of ['bird', 'bird6'] as const) if (out[svc].length > 0) appendFileSync(this.birdLogs[svc], out[svc].join('\n') + '\n');
  }
}

export async function startImageRr(o: StartImageRrOptions): Promise<ImageRr> {
  const forwarder: TrackedProcess = spawnTracked('ip', ['netns', 'exec', o.netns, process.execPath, FORWARDER, '127.0.0.1', '2379', o.etcdSocket], {
    logFile: join(o.dir, 'forwarder.log'),
  });
  let boot: ImageBoot;
  try {
    boot = await bootImage({ root: o.root, dir: o.dir, netns: o.netns, env: { ETCD_ENDPOINTS: 'http://127.0.0.1:2379', ...o.env } });
  } catch (e) {
    await killTracked(forwarder.pid);
    throw e;
  }
  try {
    return await watchImageRr(o, boot, forwarder);
  } catch (e) {
    // Not up: end the container (its whole PID namespace) and the forwarder before reporting.
    try {
      process.kill(boot.pid1, 'SIGKILL');
    } catch {
      /* gone */
    }
    await boot.exited;
    await killTracked(forwarder.pid);
    throw e;
  }
}

async function watchImageRr(o: StartImageRrOptions, boot: ImageBoot, forwarder: TrackedProcess): Promise<ImageRr> {
  const configDir = join(boot.volumes, 'config');
  const sockets = join(boot.volumes, 'sockets');
  const log = new ContainerLog(boot.log, { bird: join(o.dir, 'bird.log'), bird6: join(o.dir, 'bird6.log') });
  const timer = setInterval(() => log.refresh(), 100);
  timer.unref();
  const lines = (): LogLine[] => {
    log.refresh();
    return log.agentLines;
  };
  // (Node 24 names its main thread: the agent's comm is `MainThread`, so it is found by its command line.)
  const agentPid = await waitFor(() => descendants(boot.pid1).find((p) => /\/routereflector run$/.test(cmdline(p).trim())), { what: `${o.dir}: the agent's process`, timeoutMs: 15_000 });
  const agent: ImageAgent = {
    pid: agentPid,
    get lines() {
      return lines();
    },
    find: (match, from = 0) => lines().slice(from).filter(match),
    waitForLine: (match, what, opts = {}) =>
      waitFor(() => lines().slice(opts.from ?? 0).find(match), { what: `agent log (image ${o.dir}): ${what}`, timeoutMs: opts.timeoutMs ?? 15_000 }),
  };
  const daemon = async (family: Family): Promise<BirdHandle> => {
    const name = family === 'v4' ? 'bird' : 'bird6';
    const socket = join(sockets, `${name}.ctl`);
    const pid = await waitFor(
      () => descendants(boot.pid1).find((p) => readComm(p) === 'bird' && cmdline(p).includes(`/sockets/${name}.ctl`)),
      { what: `${o.dir}: ${name} running`, timeoutMs: o.readyTimeoutMs ?? 60_000 },
    );
    const logPath = join(o.dir, `${name}.log`);
    const read = (): string => {
      log.refresh();
      return readFileSync(logPath, 'utf8');
    };
    return {
      family,
      pid,
      dir: configDir,
      socket,
      configPath: join(configDir, `${name}.cfg`),
      logPath,
      netns: o.netns,
      process: forwarder, // BIRD is s6's child in the container: there is no handle of ours on it
      writeConfig: () => {
        throw new Error('the image agent writes this config');
      },
      log: read,
      logMark: () => Buffer.byteLength(read()),
      logSince: (mark) => Buffer.from(read()).subarray(mark).toString('utf8'),
      refresh: () => log.refresh(),
      stop: () => Promise.reject(new Error('stop the container instead')),
    };
  };
  const bird = await daemon('v4');
  const bird6 = o.ipv6 ? await daemon('v6') : undefined;
  return {
    boot,
    configDir,
    agent,
    bird,
    ...(bird6 !== undefined ? { bird6 } : {}),
    async stop() {
      clearInterval(timer);
      if (!boot.hasExited()) {
        try {
          process.kill(boot.pid1, 'SIGTERM');
        } catch {
          /* gone */
        }
        const done = await Promise.race([boot.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
        if (!done) {
          try {
            process.kill(boot.pid1, 'SIGKILL');
          } catch {
            /* gone */
          }
          await boot.exited;
        }
      }
      await killTracked(forwarder.pid);
    },
  };
}
