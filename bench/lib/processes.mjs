/** Processes and their cost: every child and mount the bench makes is tracked and removed by PID; CPU and memory read from /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { CLK_TCK, MiB } from './setup.mjs';

// ---------------------------------------------------------------- processes

/** Every child we start, by PID, so that nothing outlives the bench. */
export const children = new Map();
/** Mount points we made, unmounted on exit if a run did not get to it. */
export const mounts = new Set();
/** Temp dirs to remove on exit if a run did not get to it. */
export const tempDirs = new Set();
/** Anything else to undo on exit (a real BIRD's network namespace, real-bird.mjs). */
export const cleanups = new Set();
let exitHook = false;
export function installExitHook() {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of children.values()) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* best effort */
      }
    }
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
    for (const undo of cleanups) undo();
  });
  // Ctrl-C / kill: run the exit hook above (children by PID, mounts)
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
}
export function track(child) {
  installExitHook();
  children.set(child.pid, child);
  child.once('exit', () => children.delete(child.pid));
  return child;
}

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

export async function terminate(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  try {
    process.kill(child.pid, 'SIGCONT');
    process.kill(child.pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await done;
  clearTimeout(t);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- /proc

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** PIDs of `root` and all its live descendants. */
function processTree(root) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(statFields(d)[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** CPU ms of a process tree: own user+system, plus reaped children (cutime+cstime of each). */
export function cpuMs(root) {
  let self = 0;
  let kids = 0;
  let sys = 0;
  for (const pid of processTree(root)) {
    try {
      const f = statFields(pid);
      const own = Number(f[11]) + Number(f[12]);
      const reaped = Number(f[13]) + Number(f[14]);
      if (pid === root) sys += Number(f[12]);
      if (pid === root) self += own;
      else kids += own;
      kids += reaped;
    } catch {
      /* gone */
    }
  }
  return { self: (self * 1000) / CLK_TCK, selfSystem: (sys * 1000) / CLK_TCK, children: (kids * 1000) / CLK_TCK, total: ((self + kids) * 1000) / CLK_TCK };
}

function statusKiB(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
/** RSS of the tree (MiB) and the root's peak (VmHWM). */
export function memory(root) {
  let rss = 0;
  for (const pid of processTree(root)) rss += statusKiB(pid, 'VmRSS') ?? 0;
  return { rssMiB: rss / 1024, peakMiB: (statusKiB(root, 'VmHWM') ?? 0) / 1024 };
}
