/**
 * The fabric-shaped benchmark (issue 16): the seed's example of 100 route
 * reflectors and 100,000 nodes, each node peering with three of them. Every
 * route reflector watches the whole keyspace and plans only its share; the
 * agent under test is one of them (172.16.0.1 / fd00:ffff::1).
 *
 * Data: /global/as_num, 100 rr_v4 + 100 rr_v6 (cluster id per pair of RRs:
 * RRs 2k-1 and 2k share 1.0.0.k), and N hosts with ip_addr_v4, ip_addr_v6,
 * as_num and three peer_v4 + three peer_v6 entries: host i peers with RRs
 * i % 100, (i + 33) % 100 and (i + 67) % 100, so RR 0 (ours) has 3 N / 100
 * clients and 99 mesh peers per family.
 *
 * Measured from the outside (stand-in BIRD sockets as in the main bench):
 *   1. start -> both configs complete (clients + 99 mesh protocols each); RSS;
 *   2. 1,000 changes that do not concern this RR (ip_addr_v4/v6 of hosts that
 *      do not peer with it): config writes (versions of both files), the
 *      agent's write syscalls and bytes (/proc/PID/io), its journal bytes, and
 *      its CPU per change (schedstat, ns) less the idle rate;
 *   3. put -> file for changes that do (a client's ip_addr_v4), p50/p99;
 *   4. a burst of 1,000 mixed changes (client v4, client v6, unrelated), 16 in
 *      flight: rewrites of each file, final state after the last ack;
 *   5. peak RSS (VmHWM); and with BENCH_CHECK, start and put -> file again with
 *      the real `bird -p` (CONFIG_CHECK=1): the check's share.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { cpuMs, exited, installExitHook, memory, tempDirs } from './processes.mjs';
import { AS, MiB, PREFIX, hrUs, now, sleep } from './setup.mjs';
import { loadKeys, startEtcd } from './etcd.mjs';
import { FileWatch, PROTO, count, neighborsWithPrefix } from './file-watch.mjs';
import { percentile, r1 } from './measure.mjs';
import { standInBird, startTool } from './tool.mjs';

export const FABRIC_RRS = 100;
/** The RRs host i peers with (indexes 0..99; ours is 0). */
export const rrsOf = (i) => [i % FABRIC_RRS, (i + 33) % FABRIC_RRS, (i + 67) % FABRIC_RRS];
const concernsUs = (i) => rrsOf(i).includes(0);
const rr4 = (m) => `172.16.0.${m + 1}`;
const rr6 = (m) => `fd00:ffff::${(m + 1).toString(16)}`;
const clusterId = (m) => `1.0.0.${(m >> 1) + 1}`;
const hostName = (i) => `fab-${String(i).padStart(6, '0')}`;
const key = (i, leaf) => `${PREFIX}/host/${hostName(i)}/${leaf}`;
const ip4 = (i) => `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`;
/** Canonical (RFC 5952: no zero run to compress, at most one 0 group) so that the config holds the same text. */
const ip6 = (i) => `fd01:1:1:1:1:1:${(((i + 1) >> 16) + 1).toString(16)}:${((i + 1) & 0xffff).toString(16)}`;
/** Unique addresses of change k in a series: 100.<series>.x.y and fd01:0:0:<series>::<k+1>. */
const change4 = (series, k) => `100.${series}.${(k >> 8) & 255}.${k & 255}`;
const change6 = (series, k) => `fd01:0:0:${series.toString(16)}::${(k + 1).toString(16)}`;

function* fabricData(n) {
  yield [`${PREFIX}/global/as_num`, AS];
  for (let m = 0; m < FABRIC_RRS; m++) {
    yield [`${PREFIX}/rr_v4/${rr4(m)}`, JSON.stringify({ ip: rr4(m), cluster_id: clusterId(m) })];
    yield [`${PREFIX}/rr_v6/${rr6(m)}`, JSON.stringify({ ip: rr6(m), cluster_id: clusterId(m) })];
  }
  for (let i = 0; i < n; i++) {
    yield [key(i, 'ip_addr_v4'), ip4(i)];
    yield [key(i, 'ip_addr_v6'), ip6(i)];
    yield [key(i, 'as_num'), AS];
    for (const m of rrsOf(i)) {
      yield [key(i, `peer_v4/${rr4(m)}`), JSON.stringify({ ip: rr4(m), as_num: AS })];
      yield [key(i, `peer_v6/${rr6(m)}`), JSON.stringify({ ip: rr6(m), as_num: AS })];
    }
  }
}

/** On-CPU ns of a process (its threads summed), from /proc/PID/schedstat: finer than the 10 ms ticks of stat. */
function schedNs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}
/** Write syscalls and bytes of a process (/proc/PID/io; stdout log lines included). */
function io(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/io`, 'utf8');
    const f = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1]);
    return { syscw: f('syscw'), wchar: f('wchar') };
  } catch {
    return { syscw: NaN, wchar: NaN };
  }
}
function journalBytes(configDir) {
  try {
    return statSync(join(configDir, 'journal', 'journal.jsonl')).size;
  } catch {
    return undefined;
  }
}
const summary = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: r1(percentile(s, 50)), p99: r1(percentile(s, 99)), min: r1(s[0]), max: r1(s[s.length - 1]) };
};
const checkSteps = (lines) => summary(lines.filter((l) => l.step === 'check' && l.family === 'v4' && l.ok).map((l) => l.durationMs));

export const FABRIC_DEFAULTS = { n: 100_000, unrelated: 1000, trials: 30, burstPuts: 1000, burstConcurrency: 16, check: true, checkTrials: 20 };

/** Hosts that peer with us / with others only, in keyspace order. */
function hostsBy(n, pred) {
  const out = [];
  for (let i = 0; i < n; i++) if (pred(i)) out.push(i);
  return out;
}

/** One agent run on the loaded fabric etcd. */
async function fabricRun(ctx, { check, trials, unrelated, burst, series, label }) {
  const { client, endpoint, n, opts, log } = ctx;
  const configDir = mkdtempSync(join(opts.configParent ?? tmpdir(), 'rr-bench-fab-'));
  installExitHook();
  tempDirs.add(configDir);
  const ours = hostsBy(n, concernsUs);
  const others = hostsBy(n, (i) => !concernsUs(i));
  const expected = ours.length + FABRIC_RRS - 1;
  const w4 = new FileWatch(join(configDir, 'bird.cfg'), opts.pollMs);
  const w6 = new FileWatch(join(configDir, 'bird6.cfg'), opts.pollMs);
  const birds = [];
  const out = { label, check, clients: ours.length, expectedProtocols: expected };
  let tool;
  try {
    for (const name of ['bird', 'bird6']) birds.push(await standInBird(join(configDir, `${name}.ctl`), join(configDir, `${name}.cfg`)));
    const t0 = now();
    tool = startTool({ endpoint, configDir, check, nodeArgs: opts.nodeArgs, env: opts.toolEnv });
    const early = exited(tool.child).then(() => {
      throw new Error(`${label}: agent exited early (code ${tool.child.exitCode}): ${tool.stderr()}`);
    });
    const full = (b) => count(b, PROTO) >= expected;
    const startTimeoutMs = opts.fabric?.startTimeoutMs ?? opts.startTimeoutMs;
    const [s4, s6] = await Promise.race([
      Promise.all([w4.waitFor(full, startTimeoutMs, `${label}: bird.cfg with ${expected} protocols`), w6.waitFor(full, startTimeoutMs, `${label}: bird6.cfg with ${expected} protocols`)]),
      early,
    ]).catch((err) => {
      // what the agent got to, for the operator of the bench
      const last = tool.lines.slice(-3).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${err.message}; agent RSS ${r1(memory(tool.pid).rssMiB)} MiB, last lines:\n${last}\n${tool.stderr()}`);
    });
    out.start = { ms: r1(Math.max(s4, s6) - t0), v4Ms: r1(s4 - t0), v6Ms: r1(s6 - t0), bytes: statSync(join(configDir, 'bird.cfg')).size };
    log(`${label}: start -> both configs complete ${out.start.ms} ms (${ours.length} clients + ${FABRIC_RRS - 1} mesh per family)`);
    await sleep(opts.settleMs);
    out.memory = { afterStartMiB: r1(memory(tool.pid).rssMiB) };

    // idle rate, to tell per-change cost from timers and probes
    const idle0 = schedNs(tool.pid);
    const ti0 = now();
    await sleep(opts.idleMs);
    const idleNsPerMs = (schedNs(tool.pid) - idle0) / (now() - ti0);

    // 2. changes that do not concern this RR
    if (unrelated > 0) {
      const tU0 = now();
      out.phases = { unrelated: { fromUs: hrUs() } };
      const io0 = io(tool.pid);
      const j0 = journalBytes(configDir);
      const c0 = schedNs(tool.pid);
      const tick0 = cpuMs(tool.pid).self;
      const lines0 = tool.lines.length;
      let next = 0;
      const worker = async () => {
        while (next < unrelated) {
          const k = next++;
          const host = others[(k * 97) % others.length];
          if (k % 2 === 0) await client.put(key(host, 'ip_addr_v4')).value(change4(series, k));
          else await client.put(key(host, 'ip_addr_v6')).value(change6(series, k));
        }
      };
      await Promise.all(Array.from({ length: opts.burstConcurrency }, worker));
      await sleep(opts.burstTailMs); // let the agent take in the last ones
      const elapsed = now() - tU0;
      out.phases.unrelated.toUs = hrUs();
      const io1 = io(tool.pid);
      const j1 = journalBytes(configDir);
      const ns = schedNs(tool.pid) - c0 - idleNsPerMs * elapsed;
      out.unrelated = {
        changes: unrelated,
        configWrites: w4.rewritesSince(tU0) + w6.rewritesSince(tU0),
        cpuPerChangeMs: Math.round((Math.max(0, ns) / 1e6 / unrelated) * 100) / 100,
        cpuTicksPerChangeMs: r1((cpuMs(tool.pid).self - tick0) / unrelated),
        writeSyscalls: io1.syscw - io0.syscw,
        writeBytes: io1.wchar - io0.wchar,
        journalBytes: j0 === undefined ? null : j1 - j0,
        logLines: tool.lines.length - lines0,
        idleMsPerS: r1(idleNsPerMs / 1e3),
      };
      log(`${label}: ${unrelated} unrelated changes: ${out.unrelated.configWrites} config writes, ${out.unrelated.cpuPerChangeMs} ms CPU each, ${out.unrelated.writeSyscalls} write syscalls`);
    }

    // 3. put -> file for changes that concern this RR
    const samples = [];
    const linesT = tool.lines.length;
    for (let k = 0; k < trials; k++) {
      const host = ours[Math.floor(((k + 0.5) / trials) * ours.length)];
      const ip = change4(series + 1, k);
      const needle = Buffer.from(`neighbor ${ip} `);
      const tPut = now();
      await client.put(key(host, 'ip_addr_v4')).value(ip);
      samples.push((await w4.waitFor((b) => b.includes(needle), opts.trialTimeoutMs, `${label}: trial ${k} (${ip})`)) - tPut);
      await sleep(opts.gapMs + Math.random() * opts.gapMs);
    }
    out.put = summary(samples);
    out.put.samples = samples.map(r1);
    out.check = checkSteps(tool.lines.slice(linesT));
    log(`${label}: put -> file p50 ${out.put.p50} ms p99 ${out.put.p99} ms`);

    // 4. a burst of mixed changes: client v4, client v6, unrelated
    if (burst) {
      await sleep(opts.settleMs);
      const final4 = new Map();
      const final6 = new Map();
      const jobs = [];
      for (let k = 0; k < burst.puts; k++) {
        const kind = k % 3;
        if (kind === 2) {
          jobs.push([key(others[(k * 31) % others.length], 'ip_addr_v4'), change4(series + 3, k)]);
        } else {
          const host = ours[(k * 7) % ours.length];
          if (kind === 0) {
            final4.set(host, change4(series + 2, k));
            jobs.push([key(host, 'ip_addr_v4'), final4.get(host)]);
          } else {
            final6.set(host, change6(series + 2, k));
            jobs.push([key(host, 'ip_addr_v6'), final6.get(host)]);
          }
        }
      }
      const has = (expectedSet, prefix) => (b) => {
        const got = neighborsWithPrefix(b, prefix);
        if (got.size !== expectedSet.size) return false;
        for (const ip of expectedSet) if (!got.has(ip)) return false;
        return true;
      };
      const tB0 = now();
      const cB0 = schedNs(tool.pid);
      const finals = Promise.all([
        w4.waitFor(has(new Set(final4.values()), `100.${series + 2}.`), opts.trialTimeoutMs + 60_000, `${label}: final v4 state of the burst`),
        w6.waitFor(has(new Set(final6.values()), `fd01:0:0:${(series + 2).toString(16)}::`), opts.trialTimeoutMs + 60_000, `${label}: final v6 state of the burst`),
      ]);
      let next = 0;
      let lastAck = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const [k, v] = jobs[next++];
          await client.put(k).value(v);
          lastAck = Math.max(lastAck, now());
        }
      };
      await Promise.all(Array.from({ length: burst.concurrency }, worker));
      const [f4, f6] = await finals;
      await sleep(opts.burstTailMs);
      out.burst = {
        puts: burst.puts,
        concurrency: burst.concurrency,
        rewritesV4: w4.rewritesSince(tB0),
        rewritesV6: w6.rewritesSince(tB0),
        finalAfterLastAckMs: r1(Math.max(f4, f6) - lastAck),
        cpuMs: r1((schedNs(tool.pid) - cB0) / 1e6),
      };
      log(`${label}: burst ${burst.puts}x${burst.concurrency}: ${out.burst.rewritesV4}+${out.burst.rewritesV6} rewrites, final ${out.burst.finalAfterLastAckMs} ms after last ack`);
    }
    out.memory.peakMiB = r1(memory(tool.pid).peakMiB);
  } finally {
    w4.stop();
    w6.stop();
    if (tool) await tool.stop();
    for (const b of birds) await b.close();
    rmSync(configDir, { recursive: true, force: true });
    tempDirs.delete(configDir);
  }
  return out;
}

/** The fabric benchmark: a fresh etcd, the fabric loaded, one run (and one with `bird -p`). */
export async function runFabric(opts) {
  const f = { ...FABRIC_DEFAULTS, ...opts.fabric };
  const log = opts.log;
  log(`fabric N=${f.n}: starting etcd`);
  const etcd = await startEtcd({ log });
  const client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { 'grpc.max_receive_message_length': 512 * MiB } });
  try {
    const load = await loadKeys(client, fabricData(f.n));
    log(`fabric N=${f.n}: loaded ${load.keys} keys in ${Math.round(load.ms)} ms`);
    const ctx = { client, endpoint: etcd.endpoint, n: f.n, opts, log };
    const entry = { n: f.n, rrs: FABRIC_RRS, keys: load.keys, loadMs: r1(load.ms), loadavgBefore: loadavg().map(r1) };
    entry.run = await fabricRun(ctx, {
      check: false,
      trials: f.trials,
      unrelated: f.unrelated,
      burst: f.burstPuts > 0 ? { puts: f.burstPuts, concurrency: f.burstConcurrency } : undefined,
      series: 110,
      label: `fabric N=${f.n}`,
    });
    if (f.check) entry.checked = await fabricRun(ctx, { check: true, trials: f.checkTrials, unrelated: 0, burst: undefined, series: 120, label: `fabric N=${f.n} bird -p` });
    entry.loadavgAfter = loadavg().map(r1);
    return entry;
  } finally {
    await client.close();
    await etcd.stop();
  }
}

export function fabricTable(e) {
  const r = e.run;
  const c = e.checked;
  const u = r.unrelated;
  const rows = [
    ['hosts / RRs / keys', `${e.n} / ${e.rrs} / ${e.keys}`],
    ['clients + mesh per family', `${r.clients} + ${e.rrs - 1}`],
    ['start -> both configs ms', `${r.start.ms} (v4 ${r.start.v4Ms}, v6 ${r.start.v6Ms})`],
    ['RSS after start / peak MiB', `${r.memory.afterStartMiB} / ${r.memory.peakMiB}`],
    ...(u
      ? [
          [`${u.changes} unrelated: config writes`, String(u.configWrites)],
          ['unrelated: CPU ms per change', String(u.cpuPerChangeMs)],
          ['unrelated: write syscalls / journal bytes', `${u.writeSyscalls} / ${u.journalBytes ?? '-'}`],
        ]
      : []),
    ['put -> file p50 / p99 ms', `${r.put.p50} / ${r.put.p99}`],
    ...(r.burst
      ? [[`burst ${r.burst.puts} mixed: rewrites v4+v6, final after ack ms`, `${r.burst.rewritesV4}+${r.burst.rewritesV6}, ${r.burst.finalAfterLastAckMs}`]]
      : []),
    ...(c
      ? [
          ['bird -p: start ms', String(c.start.ms)],
          ['bird -p: put -> file p50 / p99 ms', `${c.put.p50} / ${c.put.p99}`],
          ['bird -p: check p50 ms (share of put p50)', `${c.check.p50} (${c.put.p50 ? Math.round((100 * c.check.p50) / c.put.p50) : '-'} %)`],
        ]
      : []),
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  return [
    `fabric: ${e.n} hosts x 3 RRs of ${e.rrs}; this RR = 172.16.0.1 / fd00:ffff::1`,
    ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`),
    `load average (1 min) before->after: ${e.loadavgBefore[0]}->${e.loadavgAfter[0]}`,
  ].join('\n');
}
