/** One measured run: start, put -> file trials, CPU per change, the burst, memory; and the statistics. */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, exited, freePort, installExitHook, memory, tempDirs } from './processes.mjs';
import { MESH_MEMBERS, hrUs, now, sleep } from './setup.mjs';
import { changeIp, hostKey } from './etcd.mjs';
import { FileWatch, PROTO, count, neighborsWithPrefix } from './file-watch.mjs';
import { standInBird, startTool } from './tool.mjs';
import { realBirdBin, startRealBird } from './real-bird.mjs';
import { RR_IP } from './setup.mjs';

// ---------------------------------------------------------------- stats

export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
export const r1 = (x) => (x === undefined || x === null ? x : Math.round(x * 10) / 10);
function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: r1(percentile(s, 50)),
    p99: r1(percentile(s, 99)),
    min: r1(s[0]),
    max: r1(s[s.length - 1]),
    mean: r1(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}
const stepDurations = (lines, step, from = 0) =>
  summary(lines.filter((l) => l.t >= from && l.step === step && l.family === 'v4' && l.ok).map((l) => l.durationMs));

// ---------------------------------------------------------------- one run

/**
 * One tool run against a loaded etcd: start, trials, (optionally) burst.
 * `series` makes every changed address unique within the etcd.
 */
export async function measureRun(ctx, { check, trials, burst, series, label, realBird }) {
  const { client, endpoint, n, opts, log } = ctx;
  const configDir = mkdtempSync(join(opts.configParent ?? tmpdir(), 'rr-bench-cfg-'));
  installExitHook();
  tempDirs.add(configDir);
  const file = join(configDir, 'bird.cfg');
  const expectedProtocols = n + MESH_MEMBERS - 1;
  const watch = new FileWatch(file, opts.pollMs);
  const phases = {};
  const out = { label, check };
  let tool;
  let bird;
  const birds = [];
  try {
    // With `realBird` (a dialect), BIRD itself serves bird.ctl once the first bird.cfg is on disk (as s6 starts it).
    for (const name of realBird ? ['bird6'] : ['bird', 'bird6']) birds.push(await standInBird(join(configDir, `${name}.ctl`), join(configDir, `${name}.cfg`)));
    // 1. start -> first complete bird.cfg
    phases.start = { fromUs: hrUs() };
    const t0 = now();
    // Against a real BIRD the agent renders that BIRD's dialect (its --version) and checks with it while it is down.
    const env = realBird ? { ...opts.toolEnv, BIRD_BIN: realBirdBin(realBird), ...(realBird === 'bird1' ? {} : { BIRD6_BIN: realBirdBin(realBird) }) } : opts.toolEnv;
    tool = startTool({ endpoint, configDir, check, toolCmd: opts.toolCmd, nodeArgs: opts.nodeArgs, env });
    const exitEarly = exited(tool.child).then(() => {
      throw new Error(`${label}: tool exited early (code ${tool.child.exitCode}): ${tool.stderr()}`);
    });
    const tStart = await Promise.race([
      watch.waitFor((b) => count(b, PROTO) >= expectedProtocols, opts.startTimeoutMs, `${label}: bird.cfg with ${expectedProtocols} protocols`),
      exitEarly,
    ]);
    phases.start.toUs = hrUs();
    const first = (pred) => tool.lines.find(pred)?.t;
    out.start = { ms: r1(tStart - t0), fileBytes: statSync(file).size };
    // where the time goes, from the agent's own log lines (arrival times; filled in at the end)
    const startBreakdown = () => ({
      snapshotMs: r1(first((l) => l.msg === 'etcd resynced') - t0),
      planMs: r1(first((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v4')) - t0),
      installMs: r1(first((l) => l.msg === 'install ok' && l.family === 'v4') - t0),
    });
    log(`${label}: start -> complete bird.cfg ${out.start.ms} ms (${out.start.fileBytes} bytes)`);
    if (realBird) {
      const reloads = () => tool.lines.filter((l) => l.msg === 'reload ok' && l.family === 'v4').length;
      const before = reloads();
      const tB = now();
      try {
        bird = await startRealBird({
          bin: realBirdBin(realBird),
          configFile: file,
          socket: join(configDir, 'bird.ctl'),
          logFile: join(configDir, 'bird.log'),
          rrIp: RR_IP,
          timeoutMs: opts.birdStartTimeoutMs,
        });
      } catch (e) {
        // A BIRD that cannot come up at this size on this machine is a finding, not a crash of the bench.
        out.bird = { dialect: realBird, error: String(e instanceof Error ? e.message : e), waitedMs: r1(now() - tB) };
        log(`${label}: ${out.bird.error}`);
        return out;
      }
      // The agent sees it come up and reloads it (the first config reached BIRD).
      const tUp = now();
      while (reloads() === before) {
        if (now() - tUp > opts.startTimeoutMs) throw new Error(`${label}: no reload ok once BIRD answered`);
        await sleep(20);
      }
      out.bird = { dialect: realBird, version: bird.version, startMs: r1(bird.startMs), protocols: await bird.protocols() };
      log(`${label}: BIRD ${bird.version} up in ${out.bird.startMs} ms with ${out.bird.protocols} protocols`);
    }
    await sleep(opts.settleMs);
    out.memory = { afterLoad: memory(tool.pid) };

    // idle CPU, to tell the per-change cost from timers and keepalives
    const idle0 = cpuMs(tool.pid);
    const birdIdle0 = bird ? cpuMs(bird.pid) : undefined;
    const ti0 = now();
    await sleep(opts.idleMs);
    const idleRate = (cpuMs(tool.pid).total - idle0.total) / ((now() - ti0) / 1000);
    const birdIdleRate = bird ? (cpuMs(bird.pid).total - birdIdle0.total) / ((now() - ti0) / 1000) : 0;

    // 2 + 3. single puts, each timed to the file containing it; CPU over the series
    const journalBefore = journalBytes(configDir);
    phases.trials = { fromUs: hrUs() };
    const linesBefore = tool.lines.length;
    const cpu0 = cpuMs(tool.pid);
    const birdCpu0 = bird ? cpuMs(bird.pid) : undefined;
    const tt0 = now();
    const samples = [];
    const puts = [];
    for (let k = 0; k < trials; k++) {
      const host = Math.floor(((k + 0.5) / trials) * n); // spread over the keyspace
      const ip = changeIp(series, k);
      const needle = Buffer.from(`neighbor ${ip} `);
      const tPut = now();
      puts.push(tPut);
      await client.put(hostKey(host, 'ip_addr_v4')).value(ip);
      const tSeen = await watch.waitFor((b) => b.includes(needle), opts.trialTimeoutMs, `${label}: trial ${k} (${ip})`);
      samples.push(tSeen - tPut);
      await sleep(opts.gapMs + Math.random() * opts.gapMs);
    }
    const cpu1 = cpuMs(tool.pid);
    const birdCpu1 = bird ? cpuMs(bird.pid) : undefined;
    const trialWall = (now() - tt0) / 1000;
    phases.trials.toUs = hrUs();
    const idleShare = idleRate * trialWall;
    out.put = summary(samples);
    out.put.samples = samples.map(r1);
    if (bird) {
      // put -> BIRD runs the change: the agent's `check ok` by the daemon is logged as BIRD's reply to
      // `configure "<stage>"` arrives (0003: parsed, reconfigured); its arrival here, per trial.
      const replies = [];
      for (let k = 0; k < puts.length; k++) {
        const l = tool.lines.find((x) => x.t >= puts[k] && (k + 1 >= puts.length || x.t < puts[k + 1]) && x.step === 'check' && x.family === 'v4' && x.ok && x.checkedBy === 'daemon');
        if (l) replies.push(l.t - puts[k]);
      }
      out.birdReply = summary(replies);
      out.birdReply.samples = replies.map(r1);
      out.bird.cpuPerChangeMs = r1((birdCpu1.total - birdCpu0.total) / trials);
      out.bird.cpuPerChangeMinusIdleMs = r1(Math.max(0, birdCpu1.total - birdCpu0.total - birdIdleRate * trialWall) / trials);
      out.bird.idleMsPerS = r1(birdIdleRate);
      out.bird.rssMiB = r1(memory(bird.pid).rssMiB);
      const checks = tool.lines.slice(linesBefore).filter((l) => l.step === 'check' && l.family === 'v4');
      out.checkedBy = { daemon: checks.filter((l) => l.checkedBy === 'daemon').length, birdP: checks.filter((l) => l.checkedBy === 'bird -p').length };
    }
    out.cpu = {
      perChangeMs: r1((cpu1.total - cpu0.total) / trials),
      perChangeMinusIdleMs: r1(Math.max(0, cpu1.total - cpu0.total - idleShare) / trials),
      selfPerChangeMs: r1((cpu1.self - cpu0.self) / trials),
      selfSystemPerChangeMs: r1((cpu1.selfSystem - cpu0.selfSystem) / trials),
      childrenPerChangeMs: r1((cpu1.children - cpu0.children) / trials),
      idleMsPerS: r1(idleRate),
      trials,
    };
    const trialLines = tool.lines.slice(linesBefore);
    out.steps = {
      write: stepDurations(trialLines, 'write'),
      check: stepDurations(trialLines, 'check'),
      install: stepDurations(trialLines, 'install'),
      reload: stepDurations(trialLines, 'reload'),
    };
    log(`${label}: put -> file p50 ${out.put.p50} ms p99 ${out.put.p99} ms; CPU/change ${out.cpu.perChangeMs} ms`);
    if (journalBefore !== undefined) out.journal = { afterStartBytes: journalBefore, perChangeBytes: r1((journalBytes(configDir) - journalBefore) / trials) };

    // 4. burst of puts, `concurrency` at a time
    if (burst) {
      const { puts, concurrency } = burst;
      await sleep(opts.settleMs);
      phases.burst = { fromUs: hrUs() };
      const finalIp = new Map();
      const jobs = [];
      for (let k = 0; k < puts; k++) {
        const host = k % n;
        const ip = changeIp(series + 1, k);
        finalIp.set(host, ip);
        jobs.push([host, ip]);
      }
      const expected = new Set(finalIp.values());
      const prefix = `100.${series + 1}.`;
      const tB0 = now();
      const linesB = tool.lines.length;
      const cpuB0 = cpuMs(tool.pid);
      let next = 0;
      let lastAck = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const [host, ip] = jobs[next++];
          await client.put(hostKey(host, 'ip_addr_v4')).value(ip);
          lastAck = Math.max(lastAck, now());
        }
      };
      const finalSeen = watch.waitFor(
        (b) => {
          const got = neighborsWithPrefix(b, prefix);
          if (got.size !== expected.size) return false;
          for (const ip of expected) if (!got.has(ip)) return false;
          return true;
        },
        opts.trialTimeoutMs + 60_000,
        `${label}: final state of the burst`,
      );
      await Promise.all(Array.from({ length: concurrency }, worker));
      const tFinal = await finalSeen;
      await sleep(opts.burstTailMs); // count late rewrites too
      const cpuB1 = cpuMs(tool.pid);
      phases.burst.toUs = hrUs();
      const burstLines = tool.lines.slice(linesB);
      out.burst = {
        puts,
        concurrency,
        putsMs: r1(lastAck - tB0),
        rewrites: watch.rewritesSince(tB0),
        installs: opts.toolCmd ? null : burstLines.filter((l) => l.msg === 'install ok' && l.family === 'v4').length,
        finalAfterLastAckMs: r1(tFinal - lastAck),
        finalAfterFirstPutMs: r1(tFinal - tB0),
        cpuMs: r1(cpuB1.total - cpuB0.total),
      };
      log(`${label}: burst ${puts}x${concurrency}: ${out.burst.rewrites} rewrites, final ${out.burst.finalAfterLastAckMs} ms after last ack`);
    }
    // 5. memory
    out.memory.end = memory(tool.pid);
    out.memory.afterLoadMiB = r1(out.memory.afterLoad.rssMiB);
    out.memory.peakMiB = r1(out.memory.end.peakMiB);
    out.logLines = tool.lines.length;
    if (!opts.toolCmd) Object.assign(out.start, startBreakdown());
    if (out.journal) out.journal.endBytes = journalBytes(configDir);
    // 6. the restart path: stopped, then started again with etcd down, from the journal in CONFIG_DIR
    if (!opts.toolCmd && !check && out.journal && (opts.restarts ?? 3) > 0) {
      await tool.stop();
      tool = undefined;
      for (const b of birds.splice(0)) await b.close();
      watch.stop();
      // Each restart on a fresh copy of the stopped agent's CONFIG_DIR (a restart appends to the journal),
      // after a second of quiet: the figure is the restart's, not the stopped agent's exit or writeback.
      const runs = [];
      for (let k = 0; k < (opts.restarts ?? 3); k++) {
        const copy = mkdtempSync(join(configDir, '..', 'restart-'));
        tempDirs.add(copy);
        cpSync(configDir, copy, { recursive: true });
        await sleep(1000);
        try {
          runs.push(await restartFromJournal(copy, opts));
        } finally {
          rmSync(copy, { recursive: true, force: true });
          tempDirs.delete(copy);
        }
      }
      const median = (pick) => r1([...runs.map(pick)].sort((a, b) => a - b)[runs.length >> 1]);
      out.restart = {
        runs,
        readyMs: median((r) => r.readyMs),
        journalMs: median((r) => r.journalMs),
        loadedMs: median((r) => r.loadedMs),
        restoreDurationMs: median((r) => r.restoreDurationMs),
      };
      log(`${label}: restart from the journal (etcd down), median of ${runs.length}: state rebuilt ${out.restart.journalMs} ms, readiness notified ${out.restart.readyMs} ms (${runs.map((r) => r.readyMs).join(', ')}), both configs loaded ${out.restart.loadedMs} ms after start`);
    }
  } finally {
    watch.stop();
    if (tool) await tool.stop();
    if (bird) await bird.stop();
    for (const b of birds) await b.close();
    rmSync(configDir, { recursive: true, force: true });
    tempDirs.delete(configDir);
  }
  out.phases = phases;
  return out;
}

// ---------------------------------------------------------------- the journal

/** Bytes of the agent's journal files ($CONFIG_DIR/journal/), undefined without one. */
function journalBytes(configDir) {
  const dir = join(configDir, 'journal');
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/**
 * Start the agent again on `configDir` with etcd unreachable: the time to
 * its "started from the journal" line and until both (stand-in) BIRDs have
 * loaded the restored configs. The configs are on disk already: what a cold
 * start during an etcd outage waits for is this.
 */
async function restartFromJournal(configDir, opts) {
  const birds = [];
  for (const name of ['bird', 'bird6']) birds.push(await standInBird(join(configDir, `${name}.ctl`), join(configDir, `${name}.cfg`)));
  const t0 = now();
  const tool = startTool({ endpoint: `http://127.0.0.1:${await freePort()}`, configDir, check: false, nodeArgs: opts.nodeArgs, env: opts.toolEnv, notify: true });
  try {
    const deadline = Date.now() + opts.startTimeoutMs;
    const at = (pred) => tool.lines.find(pred)?.t;
    const restored = (l) => typeof l.msg === 'string' && l.msg.startsWith('started from the journal');
    const loaded = (f) => (l) => l.msg === 'reload ok' && l.family === f;
    while (at(loaded('v4')) === undefined || at(loaded('v6')) === undefined) {
      if (tool.lines.some((l) => l.msg === 'journal not used: waiting for etcd')) throw new Error(`restart: journal not used: ${JSON.stringify(tool.lines.find((l) => l.msg === 'journal not used: waiting for etcd'))}`);
      if (Date.now() > deadline) throw new Error('restart from the journal: timed out');
      await sleep(opts.pollMs);
    }
    const line = tool.lines.find(restored);
    return {
      // readiness notified on the s6 pipe: BIRD may start (s6 starts it now) with the installed configs
      readyMs: tool.readyAt === undefined ? undefined : r1(tool.readyAt - t0),
      journalMs: r1(at(restored) - t0),
      loadedMs: r1(Math.max(at(loaded('v4')), at(loaded('v6'))) - t0),
      restoreDurationMs: line?.durationMs,
    };
  } finally {
    await tool.stop();
    for (const b of birds) await b.close();
  }
}
