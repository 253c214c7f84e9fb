/**
 * What the other BGP implementations' nodes (gobgp.ts, frr.ts) share: the
 * daemon runs inside a network namespace with its config and log in its own
 * directory, counts as started once its CLI answers, and is stopped by PID;
 * its CLI throws on failure.
 */
import { writeFileSync } from 'node:fs';
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

/** Run a daemon's CLI: its stdout; throws `<what> failed (<exit code>): <stderr, else stdout>`. */
export async function runCli(file: string, args: readonly string[], what: string): Promise<string> {
  const r = await execa(file, [...args], { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`${what} failed (${String(r.exitCode)}): ${String(r.stderr).trim() || String(r.stdout).trim()}`);
  return String(r.stdout);
}
