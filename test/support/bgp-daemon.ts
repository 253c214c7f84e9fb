/**
 * What the other BGP implementations' nodes (gobgp.ts, frr.ts) share: the
 * daemon runs inside a network namespace with its config and log in its own
 * directory, counts as started once its CLI answers, and is stopped by PID;
 * its CLI throws on failure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { killTracked, spawnTracked, waitStarted, type TrackedProcess } from './processes.js';

export interface BgpDaemon {
  pid: number;
  netns: string;
  dir: string;
  logPath: string;
  process: TrackedProcess;
  stop(): Promise<void>;
}

export interface BgpDaemonOptions {
  netns: string;
  dir: string;
  /** The daemon's name in the "exited early" error. */
  name: string;
  /** The config's file name in `dir`, and its text. */
  configFile: string;
  config: string;
  /** The log's file name in `dir` (the daemon's stdout and stderr). */
  logFile: string;
  /** The command run in the namespace, given the config's path. */
  command: (configPath: string) => string[];
  /** Resolves once the daemon answers (throws until then). */
  ready: () => Promise<unknown>;
  /** What is waited for, in the timeout error. */
  what: string;
}

/** Write the config, start the daemon in its namespace and wait until it answers (waitStarted: ended by PID if it does not). */
export async function startBgpDaemon(o: BgpDaemonOptions): Promise<BgpDaemon> {
  const cfg = join(o.dir, o.configFile);
  const logPath = join(o.dir, o.logFile);
  writeFileSync(cfg, o.config);
  const p = spawnTracked('ip', ['netns', 'exec', o.netns, ...o.command(cfg)], { logFile: logPath });
  await waitStarted(p, o.name, o.ready, o.what);
  return { pid: p.pid, netns: o.netns, dir: o.dir, logPath, process: p, stop: () => killTracked(p.pid) };
}

const CLI_TIMEOUT_MS = 10_000;

/**
 * Run a daemon's CLI: its stdout; throws `<what> failed (<exit code>): <stderr, else stdout>`, or
 * `<what> did not answer within 10 s` followed by `onTimeout()`'s account of the daemon (what it was doing).
 */
export async function runCli(file: string, args: readonly string[], what: string, onTimeout?: () => string): Promise<string> {
  const r = await execa(file, [...args], { reject: false, stdin: 'ignore', timeout: CLI_TIMEOUT_MS });
  if (r.timedOut) throw new Error(`${what} did not answer within ${CLI_TIMEOUT_MS / 1000} s${onTimeout ? `; ${onTimeout()}` : ''}`);
  if (r.exitCode !== 0) throw new Error(`${what} failed (${String(r.exitCode ?? r.signal)}): ${String(r.stderr).trim() || String(r.stdout).trim()}`);
  return String(r.stdout);
}

/** A daemon's state as the kernel sees it (alive?, run state, where it sleeps) and its log's last lines: for a CLI that hangs. */
export function daemonAccount(pid: number, logPath: string, lines = 5): string {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const stat = read(`/proc/${pid}/stat`);
  const state = stat === '' ? 'not running' : `state ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?'}, wchan ${read(`/proc/${pid}/wchan`) || '?'}`;
  const tail = read(logPath).split('\n').slice(-lines).join(' | ');
  return `pid ${pid} ${state}; log: ${tail || '(empty)'}`;
}
