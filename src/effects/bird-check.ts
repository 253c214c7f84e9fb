/**
 * The BIRD binary as a process: `bird --version` at start-up (which dialect
 * each family runs, core/dialect.ts) and `bird -p -c FILE`, the check of
 * every config before it is installed. BIRD_BIN for IPv4, BIRD6_BIN for
 * IPv6; the daemon the s6 run script starts is the same binary.
 *
 * - `bird -p -c F` prints nothing and exits 0 on success; on error it prints
 *   one line on stderr and exits 1: `bird: F:LINE:COL message` (BIRD 1.6,
 *   2.x; bird6 also says `bird:`), `bird: 2026-12-01 23:16:25.707 [0001]
 *   <FATAL> F:LINE:COL message` (BIRD 3).
 * - `bird --version` prints `BIRD version 2.17.6` on stderr and exits 0.
 */
import { performance } from 'node:perf_hooks';
import { execFile } from 'node:child_process';
import { checkMessage } from '../core/bird-replies.js';
import { ConfigError } from '../core/config.js';
import { defaultBird6Bin, parseBirdVersion, type BirdDaemon, type BirdDaemons } from '../core/dialect.js';

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}

interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  timedOut: boolean;
  spawnError: string | undefined;
}

/**
 * Run a BIRD binary to its end (`--version`, `-p`). node:child_process, not
 * execa: this runs at every start, before the journal's restart path, and
 * loading execa there took ~0.1 s of the start.
 */
function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ stdout, stderr, exitCode: 0, timedOut: false, spawnError: undefined });
      // A spawn failure (binary missing, EACCES) has an errno code, no exit code and no signal.
      const spawned = typeof err.code !== 'string';
      const timedOut = spawned && err.killed === true && err.signal === 'SIGKILL';
      resolve({
        stdout,
        stderr,
        exitCode: typeof err.code === 'number' ? err.code : undefined,
        timedOut,
        spawnError: spawned ? undefined : String(err.code),
      });
    });
  });
}

export interface CheckOutcome {
  ok: boolean;
  /** "Configuration OK", or BIRD's error on one line ("F:LINE:COL syntax error"). */
  message: string;
  durationMs: number;
  /** The check could not run (no binary) or did not finish (timeout): no verdict on the config. */
  noVerdict?: boolean;
}

/** `bird -p -c FILE` (or bird6): parse only, binds nothing, needs no daemon. */
export async function birdCheck(o: { bird: string; file: string; timeoutMs: number }): Promise<CheckOutcome> {
  const t0 = performance.now();
  const r = await run(o.bird, ['-p', '-c', o.file], o.timeoutMs);
  const durationMs = ms(t0);
  if (r.spawnError !== undefined) {
    return { ok: false, message: `cannot run ${o.bird}: ${r.spawnError}`, durationMs, noVerdict: true };
  }
  if (r.timedOut) {
    return { ok: false, message: `${o.bird} -p timed out after ${o.timeoutMs} ms`, durationMs, noVerdict: true };
  }
  if (r.exitCode === 0) return { ok: true, message: 'Configuration OK', durationMs };
  const text = checkMessage(r.stderr, r.stdout);
  return { ok: false, message: text || `${o.bird} -p exited with code ${String(r.exitCode)}`, durationMs };
}

/** What one binary's `--version` says: its version and dialect, or a ConfigError that says why not. */
export async function birdVersion(bin: string, timeoutMs = 10_000): Promise<BirdDaemon> {
  const r = await run(bin, ['--version'], timeoutMs);
  if (r.spawnError !== undefined) throw new ConfigError(`cannot run ${bin} --version: ${r.spawnError}`);
  if (r.timedOut) throw new ConfigError(`${bin} --version did not answer in ${timeoutMs} ms`);
  const v = parseBirdVersion(`${r.stderr}\n${r.stdout}`);
  if (!v.ok) throw new ConfigError(`${bin} --version: ${v.reason}`);
  return { bin, version: v.version, dialect: v.dialect };
}

/**
 * The BIRD of each family, read once at start: BIRD_BIN for IPv4; BIRD6_BIN
 * for IPv6, by default `bird6` next to a BIRD 1.6 and BIRD_BIN itself next
 * to a BIRD 2/3 (defaultBird6Bin). Throws a ConfigError (exit 2) for a
 * binary that cannot run or is not a supported BIRD.
 */
export async function detectBirds(o: { birdBin: string; bird6Bin?: string | undefined }): Promise<BirdDaemons> {
  const v4 = await birdVersion(o.birdBin);
  const v6 = await birdVersion(o.bird6Bin ?? defaultBird6Bin(v4));
  return { v4, v6 };
}
