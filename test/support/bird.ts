/**
 * Real BIRD 1.6 daemons for integration tests.
 *
 * `startBird` writes the config to a temp dir and runs `bird -f -c CFG -s SOCK`
 * (bird6 for v6), inside `ip netns exec NS` when asked (ip netns exec execs
 * BIRD in place, so the PID is BIRD's own). stdout+stderr go to `logPath`;
 * configs should say `log stderr all;` and `debug { states };` so that
 * session state changes land there, in this format (BIRD 1.6.8):
 *
 *   2026-11-25 18:24:15 <TRACE> Mesh_10_77_0_2: State changed to up
 *   2026-11-25 18:25:58 <INFO> Restarting protocol Mesh_10_77_0_2
 *   2026-11-25 18:25:58 <RMT> Mesh_10_77_0_1: Received: Other configuration change
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { probeSocket } from '../../src/effects/bird-socket.js';
import { killTracked, spawnTracked, tempDir, waitFor, type TrackedProcess } from './processes.js';

export type Family = 'v4' | 'v6';

export const BIRD_BIN: Record<Family, string> = { v4: '/usr/sbin/bird', v6: '/usr/sbin/bird6' };
export const BIRDC_BIN: Record<Family, string> = { v4: '/usr/sbin/birdc', v6: '/usr/sbin/birdc6' };

export interface StartBirdOptions {
  family: Family;
  /** Config text; written to `configPath`. */
  config: string;
  /** Directory for config, socket and log (default: a new temp dir). */
  dir?: string;
  /** Base file name inside dir (default "bird" / "bird6"). */
  name?: string;
  netns?: string;
  /** How long to wait for the control socket to answer (default 10 s). */
  readyTimeoutMs?: number;
  /** The daemon binary (default BIRD_BIN[family]: BIRD 1.6; see dialect.ts for BIRD 2/3). */
  bin?: string;
}

export interface BirdHandle {
  family: Family;
  pid: number;
  dir: string;
  socket: string;
  configPath: string;
  logPath: string;
  netns?: string;
  process: TrackedProcess;
  /** Replace the config file (does not reload). */
  writeConfig(text: string): void;
  /** The whole log so far. */
  log(): string;
  /** Current log length: pass to `logSince` to read only what comes after. */
  logMark(): number;
  logSince(mark: number): string;
  /** A handle whose log is copied from elsewhere (a container's log: image-rr.ts) brings `logPath` up to date. */
  refresh?(): void;
  /** SIGTERM (SIGKILL after a grace); resolves when BIRD has exited. */
  stop(): Promise<void>;
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function startBird(o: StartBirdOptions): Promise<BirdHandle> {
  const dir = o.dir ?? tempDir(`rr-bird-${o.family}`);
  const base = o.name ?? (o.family === 'v4' ? 'bird' : 'bird6');
  const configPath = join(dir, `${base}.cfg`);
  const socket = join(dir, `${base}.ctl`);
  const logPath = join(dir, `${base}.log`);
  writeFileSync(configPath, o.config);
  const birdArgs = [o.bin ?? BIRD_BIN[o.family], '-f', '-c', configPath, '-s', socket];
  const [cmd, ...args] = o.netns !== undefined ? ['ip', 'netns', 'exec', o.netns, ...birdArgs] : birdArgs;
  if (cmd === undefined) throw new Error('unreachable');
  const p = spawnTracked(cmd, args, { logFile: logPath });
  try {
    await waitFor(
      async () => {
        if (p.hasExited()) {
          throw new Error(`bird exited early; log:\n${readLog(logPath).trim()}`);
        }
        return (await probeSocket(socket, 1000)).up;
      },
      { timeoutMs: o.readyTimeoutMs ?? 10_000, intervalMs: 50, what: `${base} control socket ${socket}` },
    );
  } catch (e) {
    await killTracked(p.pid);
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n--- ${logPath}:\n${readLog(logPath).trim()}`);
  }
  const h: BirdHandle = {
    family: o.family,
    pid: p.pid,
    dir,
    socket,
    configPath,
    logPath,
    process: p,
    writeConfig: (text) => writeFileSync(configPath, text),
    log: () => readLog(logPath),
    logMark: () => Buffer.byteLength(readLog(logPath)),
    logSince: (mark) => Buffer.from(readLog(logPath)).subarray(mark).toString('utf8'),
    stop: () => killTracked(p.pid),
  };
  if (o.netns !== undefined) h.netns = o.netns;
  return h;
}

/** Run `birdc -s SOCK CMD...` (birdc6 for v6) and return stdout; throws if birdc fails. */
export async function birdc(socket: string, cmd: string, family: Family = 'v4', verbose = false): Promise<string> {
  const args = ['-s', socket, ...(verbose ? ['-v'] : []), ...cmd.trim().split(/\s+/)];
  const r = await execa(BIRDC_BIN[family], args, { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) {
    throw new Error(`birdc ${cmd} on ${socket} failed (${String(r.exitCode)}): ${String(r.stderr).trim()}`);
  }
  return String(r.stdout);
}

export interface LogRecord {
  /** "2026-11-25 18:24:15" */
  time: string;
  /** TRACE, INFO, RMT, ERR, WARN, ... */
  level: string;
  /** Protocol name when the message is "Proto: message". */
  protocol?: string;
  message: string;
}

/** BIRD 1.6 and 2: `DATE TIME <LEVEL> text`; BIRD 3 adds a `bird: ` prefix and a thread id: `bird: DATE TIME.ms [0002] <LEVEL> text`. */
const LOG_LINE = /^(?:[\w.-]+: )?(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (?:\[[0-9a-f]+\] )?<([A-Z]+)> (.*)$/;

export function parseBirdLog(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    const m = LOG_LINE.exec(line);
    if (!m) continue;
    const [, time = '', level = '', rest = ''] = m;
    const pm = /^([A-Za-z_][A-Za-z0-9_]*): (.*)$/.exec(rest);
    if (pm) out.push({ time, level, protocol: pm[1] ?? '', message: pm[2] ?? '' });
    else out.push({ time, level, message: rest });
  }
  return out;
}

export interface StateChange {
  time: string;
  protocol: string;
  /** start, feed, up, stop, down */
  state: string;
}

/**
 * `Proto: State changed to X` records (need `debug { states }`), optionally for one protocol.
 * Note: an export filter change logs `feed` then `up` WITHOUT a session reset;
 * a reset shows `stop` and `down` (see `sessionResets`).
 */
export function stateChanges(logText: string, protocol?: string): StateChange[] {
  const out: StateChange[] = [];
  for (const r of parseBirdLog(logText)) {
    if (r.protocol === undefined || (protocol !== undefined && r.protocol !== protocol)) continue;
    const m = /^State changed to (\w+)$/.exec(r.message);
    if (m) out.push({ time: r.time, protocol: r.protocol, state: m[1] ?? '' });
  }
  return out;
}

/** State changes that mean the session went away (`stop`/`down`). Empty = not reset. */
export function sessionResets(logText: string, protocol: string): StateChange[] {
  return stateChanges(logText, protocol).filter((s) => s.state === 'stop' || s.state === 'down');
}

/** Poll `show protocols` until `protocol` is Established. */
export async function waitEstablished(
  socket: string,
  protocol: string,
  family: Family = 'v4',
  timeoutMs = 20_000,
): Promise<void> {
  await waitFor(
    async () => {
      const out = await birdc(socket, `show protocols ${protocol}`, family);
      return out.split('\n').some((l) => l.startsWith(`${protocol} `) && /\sup\s.*Established/.test(l));
    },
    { timeoutMs, intervalMs: 200, what: `${protocol} Established on ${socket}` },
  );
}

export function socketExists(h: BirdHandle): boolean {
  return existsSync(h.socket);
}
