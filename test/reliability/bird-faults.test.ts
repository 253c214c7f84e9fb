/**
 * Faults 6, 7, 8 with the real agent, real etcd, the route reflector's BIRD
 * (and BIRD6) in a network namespace reading the agent's files, and a Calico
 * node's BIRD in another namespace:
 * 6. a config the check rejects (BIRD's own parser rejects it);
 * 7. disk full (a 64 KiB tmpfs as CONFIG_DIR) and a read-only CONFIG_DIR;
 * 8. a hung BIRD (SIGSTOP) and a slow `configure` (BIRD greets, the reply never ends).
 * Faults 6 and 8 depend on the daemon: fault 6 runs with the route reflector on
 * BIRD 1.6, 2 and 3, fault 8 on BIRD 1.6 and the image's BIRD (test/support/dialect.ts, reliabilityDialects);
 * the node stays on BIRD 1.6. Fault 7 is about the agent's files only.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllAgents, type LogLine } from '../support/agent.js';
import { birdc, sessionResets, waitEstablished, type BirdHandle } from '../support/bird.js';
import { birdSocketProxy } from '../support/bird-socket-proxy.js';
import { birdBins, DIALECTS, dialectName, reliabilityDialects, requireDialect, type Dialect } from '../support/dialect.js';
import { peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { birdParse, figure, grammarViolations, sleep } from '../support/reliability.js';
import { AS, N1, RR, RR6, createRrLab, shellScript, type RrLab, type RrUnderTest } from '../support/rr-lab.js';

let lab: RrLab;
let node: BirdHandle;
const dirs: string[] = [];
const mounts: string[] = [];

const put = (suffix: string, value: unknown): Promise<string> => lab.put(suffix, value);
const addClient = async (i: number): Promise<string> => {
  const ip = `10.77.0.${i}`;
  await put(`/host/c${i}/ip_addr_v4`, ip);
  await put(`/host/c${i}/peer_v4/${RR}`, { ip: RR, as_num: AS });
  return ip;
};
const proto = (ip: string): string => `Node_${ip.replace(/[.:]/g, '_')}`;
const since = (lines: LogLine[], mark: number, pred: (l: LogLine) => boolean): LogLine[] => lines.slice(mark).filter(pred);
/**
 * `show protocols` without what moves by itself: the `since` column (BIRD derives it from a clock that
 * drifts by a second between calls), and the BGP state of a session still trying to connect (towards a
 * client that is not there it turns between Active and Connect), and the column padding that goes with it.
 */
const withoutSince = (text: string): string =>
  text
    .replace(/\b(\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}(\.\d+)?)\b/g, '<since>')
    .replace(/\b(Idle|Connect|Active|OpenSent|OpenConfirm)\b/g, '<connecting>')
    .replace(/[ \t]+/g, ' ')
    .replace(/ $/gm, '');
const t = (l: LogLine | undefined): number => Date.parse(String(l?.time));

beforeAll(async () => {
  lab = await createRrLab({ prefix: `rlb${process.pid % 10000}` });
  node = await lab.startNode('n1', N1, '10.77.100.0/24');
}, 120_000);

afterAll(async () => {
  await stopAllAgents();
  await killAllTracked();
  for (const m of mounts) await execa('umount', ['-l', m], { reject: false });
  await lab?.destroy();
  for (const d of dirs) await removeDir(d);
});

async function rrIn(dir: string, env: Record<string, string> = {}, withBird6 = false, dialect: Dialect = 'bird1'): Promise<RrUnderTest> {
  requireDialect(dialect);
  const rr = await lab.startRr({ dir, env, withBird6, dialect });
  await waitEstablished(rr.bird.socket, proto(N1));
  return rr;
}

// Fault 6 on every dialect: the check is the running daemon's own (issue 18), so each BIRD's verdict is tested.
// Each dialect adds its own clients (10.77.0.1xx): a put of a value etcd already holds changes nothing.
for (const [i, d] of DIALECTS.entries()) {
  const client = (k: number): number => 100 + 10 * i + k;
  describe(`fault 6: a config the check rejects (${dialectName(d)})`, () => {
    /**
     * The route reflector whose checks reject while `dir/reject` exists: the running
     * BIRD itself (the agent's `configure "<stage>"` reaches it, through a proxy, as a
     * copy of the stage file with one statement BIRD does not know appended) and
     * `bird -p` (BIRD_BIN, the same copy), which checks while BIRD does not answer.
     * Both are BIRD's own verdicts on the text, naming `rejected.cfg`.
     */
    async function rejectingRr(dir: string, env: Record<string, string> = {}): Promise<{ rr: RrUnderTest; marker: string; close(): Promise<void> }> {
      const bird = birdBins(d).v4;
      const marker = join(dir, 'reject');
      const wrapper = shellScript(
        dir,
        'bird-check.sh',
        `# args: -p -c FILE\nif [ -e ${marker} ]; then\n  { cat "$3"; echo 'protocol bogus { }'; } > ${dir}/rejected.cfg\n  exec ${bird} -p -c ${dir}/rejected.cfg\nfi\nexec ${bird} "$@"\n`,
      );
      const proxy = await birdSocketProxy(join(dir, 'bird.ctl'), join(dir, 'proxy.ctl'), dir);
      proxy.reject = () => existsSync(marker);
      const rr = await rrIn(dir, { BIRD_BIN: wrapper, BIRD_SOCKET: proxy.path, ...env }, false, d);
      return { rr, marker, close: () => proxy.close() };
    }

    it('the running BIRD rejects the staged file: keeps the running config, logs BIRD\'s message, applies the next good state', async () => {
      const T = `check rejects (${dialectName(d)})`;
      const dir = tempDir('rr-rel-chk');
      dirs.push(dir);
      const { rr, marker, close } = await rejectingRr(dir);
      try {
        const nodeMark = node.logMark();
        const before = readFileSync(join(dir, 'bird.cfg'), 'utf8');
        const protosBefore = await birdc(rr.bird.socket, 'show protocols');
        const mark = rr.agent.lines.length;
        writeFileSync(marker, '');
        const bad = await addClient(client(0));
        const failed = await rr.agent.waitForLine((l) => l.step === 'check' && l.ok === false, 'check failure logged', { from: mark });
        expect(failed.level).toBe('error');
        expect(failed.msg).toBe('check failed');
        expect(String(failed.message)).toMatch(/rejected\.cfg:\d+:\d+ .+/);
        expect(failed.checkedBy).toBe('daemon'); // one parse: by the BIRD that would have run it
        console.log(`[detail] logged: ${JSON.stringify({ level: failed.level, msg: failed.msg, message: failed.message, checkedBy: failed.checkedBy })}`);
        await sleep(1500);
        expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toBe(before);
        expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);
        expect(since(rr.agent.lines, mark, (l) => l.step === 'install' || l.step === 'reload')).toEqual([]);
        expect(since(rr.agent.lines, mark, (l) => l.step === 'check' && l.ok === false)).toHaveLength(1); // a verdict is not retried
        expect(withoutSince(await birdc(rr.bird.socket, 'show protocols'))).toBe(withoutSince(protosBefore));

        rmSync(marker);
        const mark2 = rr.agent.lines.length;
        const t0 = Date.now();
        const good = await addClient(client(1));
        const ok = await rr.agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'next good state applied', { from: mark2 });
        figure(T, 'next good change written to BIRD reloaded', t(ok) - t0, 'ms');
        expect(since(rr.agent.lines, mark2, (l) => l.step === 'check' && l.ok === true).map((l) => l.checkedBy)).toEqual(['daemon']);
        const protos = await birdc(rr.bird.socket, 'show protocols');
        expect(protos).toContain(proto(bad)); // the rejected change is part of the state: applied with the next good one
        expect(protos).toContain(proto(good));
        expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toContain(`neighbor ${good} as`);
        expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
        figure(T, 'rejected configs installed / session resets', '0 / 0');
      } finally {
        await rr.stop();
        await close();
      }
    }, 90_000);

    it('bird -p rejects while BIRD does not answer (hung): nothing installed, the running config stays, the next good state applied', async () => {
      const T = `check rejects by bird -p, BIRD hung (${dialectName(d)})`;
      const dir = tempDir('rr-rel-chkp');
      dirs.push(dir);
      const { rr, marker, close } = await rejectingRr(dir, { COMMAND_TIMEOUT_MS: '1000' });
      try {
        const nodeMark = node.logMark();
        const before = readFileSync(join(dir, 'bird.cfg'), 'utf8');
        const protosBefore = await birdc(rr.bird.socket, 'show protocols');
        const mark = rr.agent.lines.length;
        writeFileSync(marker, '');
        process.kill(rr.bird.pid, 'SIGSTOP');
        let failed: LogLine;
        try {
          await addClient(client(2));
          failed = await rr.agent.waitForLine((l) => l.step === 'check' && l.ok === false, 'check failure logged', { from: mark, timeoutMs: 15_000 });
        } finally {
          process.kill(rr.bird.pid, 'SIGCONT');
        }
        expect(failed.msg).toBe('check failed');
        expect(String(failed.message)).toMatch(/rejected\.cfg:\d+:\d+ .+/);
        expect(failed.checkedBy).toBe('bird -p');
        await sleep(1500);
        expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toBe(before);
        expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);
        expect(since(rr.agent.lines, mark, (l) => l.step === 'install' || l.step === 'reload')).toEqual([]);
        expect(since(rr.agent.lines, mark, (l) => l.step === 'check' && l.ok === false)).toHaveLength(1);
        expect(withoutSince(await birdc(rr.bird.socket, 'show protocols'))).toBe(withoutSince(protosBefore));

        rmSync(marker);
        const mark2 = rr.agent.lines.length;
        const good = await addClient(client(3));
        const ok = await rr.agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'next good state applied', { from: mark2 });
        figure(T, 'next good change: write to reload ok (BIRD checks and loads it)', t(ok) - t(since(rr.agent.lines, mark2, (l) => l.msg === 'write ok')[0]), 'ms');
        expect(await birdc(rr.bird.socket, 'show protocols')).toContain(proto(good));
        expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
      } finally {
        await rr.stop();
        await close();
      }
    }, 90_000);
  });
}

describe('fault 7: disk full and read-only CONFIG_DIR', () => {
  it('logs the failed write, retries with backoff, leaves nothing half-written, recovers', async () => {
    const T = 'disk full';
    const dir = tempDir('rr-rel-full');
    dirs.push(dir);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'rrtest', dir]);
    mounts.push(dir);
    let rr: RrUnderTest | undefined;
    try {
      rr = await rrIn(dir);
      const nodeMark = node.logMark();
      const before = readFileSync(join(dir, 'bird.cfg'), 'utf8');

      // Fill the file system.
      const filler = join(dir, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(128 * 1024, 1));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      const mark = rr.agent.lines.length;
      const ip = await addClient(42);
      await waitFor(() => since(rr!.agent.lines, mark, (l) => l.msg === 'write failed').length >= 4, {
        what: '4 failed writes',
        timeoutMs: 20_000,
      });
      const fails = since(rr.agent.lines, mark, (l) => l.msg === 'write failed');
      expect(fails[0]!.level).toBe('error');
      expect(String(fails[0]!.message)).toContain('ENOSPC');
      const gaps = fails.slice(1, 4).map((l, i) => t(l) - t(fails[i]));
      figure(T, 'intervals between write retries', gaps.join(', '), 'ms');
      expect(gaps[1]!).toBeGreaterThan(gaps[0]!); // backoff grows
      expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toBe(before);
      expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);
      expect((await birdParse('v4', join(dir, 'bird.cfg'))).ok).toBe(true);

      // Space returns.
      const t0 = Date.now();
      rmSync(filler);
      await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8').includes(`neighbor ${ip} as`), { what: 'config on disk', timeoutMs: 40_000, intervalMs: 20 });
      const onDisk = Date.now() - t0;
      await waitFor(async () => (await birdc(rr!.bird.socket, 'show protocols')).includes(proto(ip)), { what: 'BIRD loaded it', timeoutMs: 10_000 });
      figure(T, 'space freed to config on disk (waits for the next retry)', onDisk, 'ms');
      expect(grammarViolations(readFileSync(join(dir, 'bird.cfg'), 'utf8'), 'v4')).toEqual([]);

      // Read-only: a read-only bind mount of the directory over itself (BIRD's
      // log, open for writing there, keeps the file system itself busy).
      const T2 = 'read-only CONFIG_DIR';
      await execa('mount', ['--bind', dir, dir]);
      mounts.push(dir);
      await execa('mount', ['-o', 'remount,bind,ro', dir]);
      const mark2 = rr.agent.lines.length;
      const ip2 = await addClient(43);
      await waitFor(() => since(rr!.agent.lines, mark2, (l) => l.msg === 'write failed').length >= 3, { what: '3 failed writes', timeoutMs: 20_000 });
      const fails2 = since(rr.agent.lines, mark2, (l) => l.msg === 'write failed');
      expect(String(fails2[0]!.message)).toContain('EROFS');
      figure(T2, 'failed writes logged (EROFS) before remount', fails2.length);
      const t1 = Date.now();
      await execa('umount', [dir]);
      mounts.splice(mounts.indexOf(dir), 1);
      await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8').includes(`neighbor ${ip2} as`), { what: 'config on disk', timeoutMs: 40_000, intervalMs: 20 });
      figure(T2, 'writable again to config on disk', Date.now() - t1, 'ms');
      await waitFor(async () => (await birdc(rr!.bird.socket, 'show protocols')).includes(proto(ip2)), { what: 'BIRD loaded it', timeoutMs: 10_000 });
      expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
      expect(rr.agent.child.exitCode).toBeNull();
    } finally {
      await rr?.stop();
      while (mounts.includes(dir)) {
        await execa('umount', [dir], { reject: false });
        mounts.splice(mounts.indexOf(dir), 1);
      }
    }
  }, 120_000);
});

for (const [k, d] of reliabilityDialects().entries()) {
  /** Each dialect's run writes its own clients (one lab and keyspace for all runs: a repeated put changes nothing). */
  const c = k * 20;
  describe(`fault 8: a hung BIRD and a slow configure (${dialectName(d)})`, () => {
    it('a hung BIRD (SIGSTOP, its listen queue full): reload timed out and logged, the pipeline goes on, applied once BIRD answers', async () => {
      const T = `hung BIRD (${dialectName(d)})`;
      const dir = tempDir('rr-rel-hung');
      dirs.push(dir);
      const rr = await rrIn(dir, { COMMAND_TIMEOUT_MS: '1000' }, true, d);
      const held: Socket[] = [];
      try {
        const nodeMark = node.logMark();
        const mark = rr.agent.lines.length;
        process.kill(rr.bird.pid, 'SIGSTOP');
        // A BIRD that hangs for long has its listen queue (8) full of connections that timed out; then a
        // connect fails at once (EAGAIN). Fill it now: that must read as "hung" (retried), not "not running".
        for (let i = 0; i < 12; i++) held.push(createConnection({ path: rr.bird.socket }).on('error', () => undefined));
        const ipA = await addClient(44 + c);
        const timedOut = await rr.agent.waitForLine(
          (l) => l.step === 'reload' && l.family === 'v4' && l.ok === false && /timed out/.test(String(l.message)),
          'reload timeout logged',
          { from: mark, timeoutMs: 15_000 },
        );
        console.log(`[detail] logged: ${JSON.stringify({ level: timedOut.level, msg: timedOut.msg, message: timedOut.message, durationMs: timedOut.durationMs })}`);
        figure(T, 'reload abandoned after', Number(timedOut.durationMs), 'ms (COMMAND_TIMEOUT_MS=1000)');
        // Not stalled: a later v4 change is written, checked and installed; BIRD6 is reloaded for a v6 change.
        const t0 = Date.now();
        const ipB = await addClient(45 + c);
        await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8').includes(`neighbor ${ipB} as`), { what: 'B on disk', timeoutMs: 15_000, intervalMs: 20 });
        figure(T, 'next v4 change on disk while BIRD hangs', Date.now() - t0, 'ms');
        const t6 = Date.now();
        const mark6 = rr.agent.lines.length;
        const v6 = `fd77::${60 + c}`;
        await put(`/host/v6c${k}/ip_addr_v6`, v6);
        await put(`/host/v6c${k}/peer_v6/${RR6}`, { ip: RR6, as_num: AS });
        const r6 = await rr.agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v6', 'bird6 reloaded', { from: mark6, timeoutMs: 15_000 });
        expect(readFileSync(join(dir, 'bird6.cfg'), 'utf8')).toContain(`neighbor ${v6} as`);
        figure(T, 'v6 change reloaded into BIRD6 while BIRD hangs', t(r6) - t6, 'ms');
        await sleep(1000);
        // Logged at error level and retried (a hung daemon will not "come up" again to trigger it).
        const timeouts = since(rr.agent.lines, mark, (l) => l.msg === 'reload failed' && l.family === 'v4' && /timed out/.test(String(l.message)));
        expect(timeouts.length).toBeGreaterThanOrEqual(2);
        expect(timeouts[0]!.level).toBe('error');
        expect(since(rr.agent.lines, mark, (l) => l.msg === 'reload deferred' && l.family === 'v4')).toEqual([]);
        figure(T, 'reload attempts timed out while BIRD was stopped', timeouts.length);

        const mark2 = rr.agent.lines.length;
        const t1 = Date.now();
        for (const c of held) c.destroy();
        process.kill(rr.bird.pid, 'SIGCONT');
        const ok = await rr.agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'reload once BIRD answers', { from: mark2, timeoutMs: 20_000 });
        figure(T, 'SIGCONT to latest config reloaded', t(ok) - t1, 'ms');
        const protos = await birdc(rr.bird.socket, 'show protocols');
        expect(protos).toContain(proto(ipA));
        expect(protos).toContain(proto(ipB));
        expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
      } finally {
        for (const c of held) c.destroy();
        try {
          process.kill(rr.bird.pid, 'SIGCONT');
        } catch {
          /* gone */
        }
        await rr.stop();
      }
    }, 120_000);

    it('a slow configure (BIRD greets, the reply never ends): timed out, retried with backoff, applied when it answers again', async () => {
      const T = `slow configure (${dialectName(d)})`;
      const dir = tempDir('rr-rel-slow');
      dirs.push(dir);
      // The agent talks to BIRD through a proxy that, while told to, swallows the reply to `configure`.
      const proxy = await birdSocketProxy(join(dir, 'bird.ctl'), join(dir, 'proxy.ctl'));
      const rr = await rrIn(dir, { COMMAND_TIMEOUT_MS: '1000', BIRD_SOCKET: proxy.path }, false, d);
      try {
        proxy.holdConfigure = true;
        const mark = rr.agent.lines.length;
        const ip = await addClient(46 + c);
        await waitFor(() => since(rr.agent.lines, mark, (l) => l.msg === 'reload failed').length >= 5, { what: '5 reload timeouts', timeoutMs: 40_000 });
        const fails = since(rr.agent.lines, mark, (l) => l.msg === 'reload failed');
        expect(fails[0]!.level).toBe('error');
        expect(String(fails[0]!.message)).toBe('configure timed out after 1000 ms (BIRD answered but did not finish)');
        // Start of attempt n+1 minus end of attempt n = the backoff. The first
        // attempts may be pre-empted by a newer config (the change is two puts),
        // so read the last three gaps.
        const gaps = fails.slice(2, 5).map((l, i) => t(l) - Number(l.durationMs) - t(fails[i + 1]));
        expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
        figure(T, 'backoff between reload attempts', gaps.join(', '), 'ms');
        expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
        proxy.holdConfigure = false;
        const t0 = Date.now();
        const ok = await rr.agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'reload ok', { from: mark, timeoutMs: 30_000 });
        figure(T, 'replies flow again to reload ok (next retry)', t(ok) - t0, 'ms');
        expect(await birdc(rr.bird.socket, 'show protocols')).toContain(proto(ip));
      } finally {
        await rr.stop();
        await proxy.close();
      }
    }, 120_000);
  });
}
