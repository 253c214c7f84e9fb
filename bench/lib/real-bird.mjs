/**
 * A real BIRD for the benchmark (issue 18): the agent's IPv4 daemon, so that
 * "put -> BIRD running the change" and the agent's CPU per change with the
 * check done by BIRD itself (`configure "<stage>"`) are measured against the
 * daemon, not the stand-in socket.
 *
 * BIRD runs in a network namespace this module makes (`rrbench<pid>`), with
 * only `lo` up and the RR's address on it: its N+99 BGP sessions towards the
 * bench's made-up addresses fail at once (no route), nothing leaves the
 * namespace. It reads the agent's bird.cfg and serves the agent's
 * BIRD_SOCKET (a file: the namespace does not matter for it); its log goes
 * to a file beside them. Stopped by PID, the namespace deleted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cleanups, installExitHook, terminate, track } from './processes.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The daemon binary of a dialect: `bird` (1.6) from PATH, or scripts/birds.sh's BIRD 2/3 wrappers. */
export function realBirdBin(dialect) {
  if (dialect === 'bird1') return '/usr/sbin/bird';
  const bin = `${process.env.RR_CACHE ?? '/var/cache/routereflector'}/bin/${dialect}`;
  if (!existsSync(bin)) throw new Error(`${bin} missing: run scripts/birds.sh (BENCH_BIRD=${dialect})`);
  return bin;
}

/** One exchange on a BIRD control socket: resolves with the reply lines after the greeting, or rejects. */
function ask(socket, command, timeoutMs) {
  return new Promise((resolve, reject) => {
    const c = createConnection({ path: socket });
    const lines = [];
    let buf = '';
    let greeted = false;
    const t = setTimeout(() => done(new Error(`no reply to ${command} in ${timeoutMs} ms`)), timeoutMs);
    const done = (err) => {
      clearTimeout(t);
      c.destroy();
      if (err) reject(err);
      else resolve(lines);
    };
    c.setEncoding('utf8');
    c.on('error', (e) => done(e));
    c.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!greeted) {
          if (line.startsWith('0001 ')) {
            greeted = true;
            c.write(`${command}\n`);
          }
          continue;
        }
        lines.push(line);
        if (/^\d{4} /.test(line)) return done();
      }
    });
  });
}

/**
 * Start `bin -f -c configFile -s socket` in a fresh namespace and wait until
 * it answers `show status`: tracked by PID like every child of the bench, the
 * namespace deleted on stop (and on exit, if a run dies).
 */
export async function startRealBird({ bin, configFile, socket, logFile, rrIp, timeoutMs = 600_000 }) {
  installExitHook();
  const ns = `rrbench${process.pid}`;
  const del = () => {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  };
  del();
  execFileSync('ip', ['netns', 'add', ns]);
  cleanups.add(del);
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${rrIp}/32`, 'dev', 'lo']);
  const fd = openSync(logFile, 'a');
  // ip netns exec execs BIRD in place: the PID is BIRD's own.
  const child = spawn('ip', ['netns', 'exec', ns, bin, '-f', '-c', configFile, '-s', socket], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  track(child);
  const t0 = performance.now();
  const stop = async () => {
    await terminate(child, 30_000);
    del();
    cleanups.delete(del);
  };
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${bin} exited (${child.exitCode ?? child.signalCode}); see ${logFile}`);
    }
    try {
      const r = await ask(socket, 'show status', 5000);
      if (r.at(-1)?.startsWith('0013 ')) break;
    } catch {
      /* not yet */
    }
    if (performance.now() - t0 > timeoutMs) {
      const cpu = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
      const cpuS = cpu ? (Number(cpu[11]) + Number(cpu[12])) / 100 : undefined;
      await stop();
      throw new Error(`${bin} did not answer on its control socket within ${Math.round(timeoutMs / 1000)} s of its start (${cpuS ?? '?'} s of CPU by then)`);
    }
    await sleep(200);
  }
  const version = (await ask(socket, 'show status', 5000)).find((l) => l.startsWith('1000-'))?.slice(5);
  return {
    pid: child.pid,
    version,
    startMs: performance.now() - t0,
    /** How many protocols BIRD runs (`show protocols` rows). */
    protocols: async () => {
      let code = '';
      let rows = 0;
      for (const l of await ask(socket, 'show protocols', 120_000)) {
        const m = /^(\d{4})[ -]/.exec(l);
        if (m) code = m[1];
        if (code === '1002' && (m || l.startsWith(' '))) rows++;
      }
      return rows;
    },
    stop,
  };
}
