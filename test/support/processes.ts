/**
 * Child processes for integration tests: every PID we start is remembered so
 * a test can end exactly its own processes (never by name).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TrackedProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
}

export interface SpawnTrackedOptions extends Omit<SpawnOptions, 'stdio'> {
  /** Append the child's stdout and stderr to this file (default: ignored). */
  logFile?: string;
}

const tracked = new Map<number, TrackedProcess>();

export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnTrackedOptions = {}): TrackedProcess {
  const { logFile, ...spawnOpts } = opts;
  const fd = logFile !== undefined ? openSync(logFile, 'a') : undefined;
  let child: ChildProcess;
  try {
    child = spawn(cmd, [...args], {
      ...spawnOpts,
      stdio: fd !== undefined ? ['ignore', fd, fd] : 'ignore',
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (child.pid === undefined) {
    throw new Error(`failed to spawn ${cmd} ${args.join(' ')}`);
  }
  const pid = child.pid;
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      tracked.delete(pid);
      resolve({ code, signal });
    });
  });
  child.on('error', () => {
    /* reported through exit */
  });
  const p: TrackedProcess = { pid, child, exited, hasExited: () => exitedFlag };
  tracked.set(pid, p);
  return p;
}

export function trackedPids(): number[] {
  return [...tracked.keys()];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitExit(pid: number, p: TrackedProcess | undefined, ms: number): Promise<boolean> {
  if (p) {
    return Promise.race([p.exited.then(() => true), sleep(ms).then(() => p.hasExited())]);
  }
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(25);
  }
  return !alive(pid);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function killTracked(pid: number, graceMs = 2000): Promise<void> {
  const p = tracked.get(pid);
  if (p?.hasExited()) return;
  try {
    process.kill(pid, 'SIGCONT'); // a stopped process cannot act on SIGTERM
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  if (await waitExit(pid, p, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  // The kernel finishes a SIGKILLed process on its own time: 32 daemons killed at once on two
  // loaded cores have taken over 5 s (a fresh CI machine). A process still there after 30 s is a leak.
  if (!(await waitExit(pid, p, 30_000))) throw new Error(`process ${pid} survived SIGKILL (${procState(pid)})`);
}

/** What /proc says of a process (state and command line), for an error message. */
function procState(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const state = /^State:\s*(.*)$/m.exec(status)?.[1] ?? '?';
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return `state ${state}, command ${cmd || '?'}`;
  } catch {
    return 'gone from /proc';
  }
}

export async function killAllTracked(graceMs = 2000): Promise<void> {
  await Promise.all(trackedPids().map((pid) => killTracked(pid, graceMs)));
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What we are waiting for, used in the timeout error. */
  what: string;
}

/**
 * Poll `predicate` until it returns a truthy value (returned) or the time is
 * up (throws "timed out after N ms waiting for WHAT", with the last error).
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 100, what }: WaitForOptions,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
      lastValue = v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= end) {
      const detail =
        lastError !== undefined
          ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
          : `; last value: ${JSON.stringify(lastValue)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** A fresh directory under the OS temp dir (short paths: unix sockets are limited to 107 bytes). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * A daemon just started: wait until `ready()` resolves (it may throw while
 * the daemon comes up); if the daemon exits first or the time runs out, end
 * it (by PID) and throw.
 */
export async function waitStarted(p: TrackedProcess, name: string, ready: () => Promise<unknown>, what: string, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (p.hasExited()) throw new Error(`${name} exited early`);
        await ready();
        return true;
      },
      { what, timeoutMs, intervalMs: 200 },
    );
  } catch (e) {
    await killTracked(p.pid);
    throw e;
  }
}
