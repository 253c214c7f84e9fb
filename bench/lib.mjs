/**
 * The performance benchmark of issue 6 (see bench/README.md): a real etcd,
 * N Calico hosts loaded into it, and the agent (or any `TOOL_CMD` that writes
 * the same bird.cfg) measured from the outside:
 *
 *   1. start -> first complete bird.cfg on disk (N client + 99 mesh protocols);
 *   2. one put -> the file on disk containing it, p50/p99 over >= 20 trials;
 *   3. process CPU per single change (/proc/PID/stat before/after the trials);
 *   4. a burst of 1,000 puts, 16 at a time: file rewrites (and agent installs)
 *      and time from the last acknowledged put to the final state on disk;
 *   5. RSS after the load and peak (VmRSS / VmHWM);
 *   and, for the agent, the same start and put measurements once with the real
 *   `bird -p` check (CONFIG_CHECK=1) to show its share.
 *
 * Plain ESM so that it runs with `node` and imports into vitest without a
 * build step. Every process and mount it makes is tracked and removed by PID.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { Etcd3 } from 'etcd3';
import { children } from './lib/processes.mjs';
import { AGENT_MAIN, MiB, ROOT } from './lib/setup.mjs';
import { loadHosts, startEtcd } from './lib/etcd.mjs';
import { measureRun, r1 } from './lib/measure.mjs';
import { shebangFlags } from './lib/tool.mjs';
import { fabricTable, runFabric } from './lib/fabric.mjs';

export { cpuMs, memory } from './lib/processes.mjs';
export { AGENT_MAIN, ROOT } from './lib/setup.mjs';
export { hostIPv4, loadHosts, startEtcd } from './lib/etcd.mjs';
export { FileWatch } from './lib/file-watch.mjs';
export { percentile } from './lib/measure.mjs';
export { FABRIC_DEFAULTS, fabricTable, runFabric } from './lib/fabric.mjs';

// ---------------------------------------------------------------- the bench

export const DEFAULTS = {
  sizes: [1000, 10000, 100000],
  trials: 30,
  burstPuts: 1000,
  burstConcurrency: 16,
  check: true,
  checkTrials: 20,
  /** The agent against a real BIRD of this dialect (bird1, bird2, bird3), check on; undefined skips it. */
  bird: 'bird1',
  birdTrials: 20,
  birdStartTimeoutMs: 600_000,
  pollMs: 2,
  gapMs: 150,
  restarts: 3,
  settleMs: 1500,
  idleMs: 2000,
  burstTailMs: 2500,
  startTimeoutMs: 180_000,
  trialTimeoutMs: 30_000,
  toolCmd: undefined,
  /** The fabric-shaped run (lib/fabric.mjs): undefined = skipped; optionsFromEnv turns it on (BENCH_FABRIC=0 off). */
  fabric: undefined,
  nodeArgs: [],
  toolEnv: {},
  configParent: undefined,
  resultsDir: join(ROOT, 'bench', 'results'),
  write: true,
  log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
};

/** Options from the environment (BENCH_*, TOOL_CMD). */
export function optionsFromEnv(env = process.env) {
  const o = {};
  const int = (name) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : undefined);
  if (env.BENCH_SIZES) o.sizes = env.BENCH_SIZES.split(',').map((s) => Number(s.trim())).filter((x) => x > 0);
  for (const [name, key] of [
    ['BENCH_TRIALS', 'trials'],
    ['BENCH_BURST', 'burstPuts'],
    ['BENCH_BURST_CONCURRENCY', 'burstConcurrency'],
    ['BENCH_CHECK_TRIALS', 'checkTrials'],
    ['BENCH_BIRD_TRIALS', 'birdTrials'],
    ['BENCH_BIRD_START_TIMEOUT_MS', 'birdStartTimeoutMs'],
    ['BENCH_POLL_MS', 'pollMs'],
    ['BENCH_GAP_MS', 'gapMs'],
    ['BENCH_RESTARTS', 'restarts'],
  ]) {
    const v = int(name);
    if (v !== undefined) o[key] = v;
  }
  const fabricOff = env.BENCH_FABRIC !== undefined && /^(0|false|no|off)$/i.test(env.BENCH_FABRIC);
  if (!fabricOff && !env.TOOL_CMD) {
    o.fabric = {};
    for (const [name, key] of [['BENCH_FABRIC_N', 'n'], ['BENCH_FABRIC_UNRELATED', 'unrelated'], ['BENCH_TRIALS', 'trials'], ['BENCH_BURST', 'burstPuts'], ['BENCH_CHECK_TRIALS', 'checkTrials']]) {
      const v = int(name);
      if (v !== undefined) o.fabric[key] = v;
    }
    if (env.BENCH_CHECK !== undefined) o.fabric.check = !/^(0|false|no|off)$/i.test(env.BENCH_CHECK);
  }
  if (env.BENCH_CHECK !== undefined) o.check = !/^(0|false|no|off)$/i.test(env.BENCH_CHECK);
  if (env.BENCH_BIRD !== undefined && env.BENCH_BIRD !== '') {
    if (/^(0|false|no|off)$/i.test(env.BENCH_BIRD)) o.bird = undefined;
    else if (['bird1', 'bird2', 'bird3'].includes(env.BENCH_BIRD)) o.bird = env.BENCH_BIRD;
    else throw new Error(`BENCH_BIRD=${env.BENCH_BIRD}: expected bird1, bird2, bird3 or 0`);
  }
  if (env.TOOL_CMD) o.toolCmd = env.TOOL_CMD;
  if (env.BENCH_NODE_ARGS) o.nodeArgs = env.BENCH_NODE_ARGS.split(/\s+/).filter(Boolean);
  if (env.BENCH_RESULTS_DIR) o.resultsDir = env.BENCH_RESULTS_DIR;
  if (env.BENCH_CONFIG_PARENT) o.configParent = env.BENCH_CONFIG_PARENT;
  if (env.BENCH_AGENT_ENV) {
    // e.g. BENCH_AGENT_ENV="DEBOUNCE_MS=20 MAX_WAIT_MS=500"
    o.toolEnv = Object.fromEntries(env.BENCH_AGENT_ENV.split(/\s+/).filter(Boolean).map((kv) => kv.split('=')));
  }
  return o;
}

function machine() {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model,
    memMiB: Math.round(totalmem() / MiB),
    kernel: release(),
    node: process.version,
    etcd: (() => {
      try {
        return execFileSync(process.env.ETCD_BIN ?? 'etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
      } catch {
        return undefined;
      }
    })(),
  };
}

export async function runBench(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const log = opts.log;
  if (!opts.toolCmd && !existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} missing: run npm run build first`);
  const tool = opts.toolCmd ?? `routereflector agent (node ${[...shebangFlags(), ...opts.nodeArgs].join(' ')} ${relative(ROOT, AGENT_MAIN)} run)`;
  const result = { tool, startedAt: new Date().toISOString(), machine: machine(), options: { ...opts, log: undefined }, sizes: [] };
  for (const n of opts.sizes) {
    log(`N=${n}: starting etcd`);
    const etcd = await startEtcd({ log });
    const client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { 'grpc.max_receive_message_length': 512 * MiB } });
    try {
      const load = await loadHosts(client, n);
      log(`N=${n}: loaded ${load.keys} keys in ${Math.round(load.ms)} ms (tmpfs: ${etcd.tmpfs})`);
      const ctx = { client, endpoint: etcd.endpoint, n, opts, log };
      // other work on the machine skews every figure: record the load average around each size
      const entry = { n, keys: load.keys, loadMs: r1(load.ms), etcdTmpfs: etcd.tmpfs, loadavgBefore: loadavg().map(r1) };
      entry.run = await measureRun(ctx, {
        check: false,
        trials: opts.trials,
        burst: opts.burstPuts > 0 ? { puts: opts.burstPuts, concurrency: opts.burstConcurrency } : undefined,
        series: 100,
        label: `N=${n}`,
      });
      if (opts.check && !opts.toolCmd) {
        entry.checked = await measureRun(ctx, { check: true, trials: opts.checkTrials, burst: undefined, series: 102, label: `N=${n} bird -p` });
      }
      if (opts.bird && !opts.toolCmd) {
        entry.bird = await measureRun(ctx, { check: true, trials: opts.birdTrials, burst: undefined, series: 104, label: `N=${n} BIRD`, realBird: opts.bird });
      }
      entry.loadavgAfter = loadavg().map(r1);
      result.sizes.push(entry);
    } finally {
      await client.close();
      await etcd.stop();
    }
  }
  if (opts.fabric && !opts.toolCmd) result.fabric = await runFabric(opts);
  result.finishedAt = new Date().toISOString();
  result.table = [result.sizes.length > 0 ? table(result) : undefined, result.fabric ? fabricTable(result.fabric) : undefined].filter(Boolean).join('\n\n');
  if (opts.write) {
    mkdirSync(opts.resultsDir, { recursive: true });
    const name = `${result.startedAt.replace(/[:.]/g, '-')}-${opts.toolCmd ? 'tool' : 'agent'}.json`;
    result.file = join(opts.resultsDir, name);
    writeFileSync(result.file, JSON.stringify(result, null, 2) + '\n');
  }
  return result;
}

export function table(result) {
  const head = [
    'N', 'load s', 'start ms', 'put p50', 'put p99', 'CPU/chg ms', 'child ms', 'burst rewr', 'burst final ms', 'RSS load MiB', 'RSS peak MiB',
    '| -p start ms', '-p put p50', '-p put p99', 'bird -p ms',
    '| restart ready / loaded ms', 'journal MiB', 'B/chg',
  ];
  const rows = result.sizes.map((s) => {
    const r = s.run;
    const c = s.checked;
    return [
      s.n, (s.loadMs / 1000).toFixed(1), r.start.ms, r.put.p50, r.put.p99, r.cpu.perChangeMinusIdleMs, r.cpu.childrenPerChangeMs,
      r.burst ? `${r.burst.rewrites}${r.burst.installs !== null ? ` (${r.burst.installs} inst)` : ''}` : '-',
      r.burst ? r.burst.finalAfterLastAckMs : '-',
      r.memory.afterLoadMiB, r.memory.peakMiB,
      c ? `| ${c.start.ms}` : '| -', c ? c.put.p50 : '-', c ? c.put.p99 : '-', c ? c.steps.check.p50 : '-',
      r.restart ? `| ${r.restart.readyMs ?? '-'} / ${r.restart.loadedMs}` : '| -', r.journal ? (r.journal.endBytes / MiB).toFixed(1) : '-', r.journal ? r.journal.perChangeBytes : '-',
    ].map(String);
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((x, i) => x.padStart(w[i])).join('  ');
  const loads = result.sizes.map((s) => `N=${s.n} ${s.loadavgBefore[0]}->${s.loadavgAfter[0]}`).join(', ');
  const legend = 'CPU/chg: agent and its children per change, idle rate subtracted; child ms: its child processes alone (the agent has none when the check is off; the reload command of a TOOL_CMD); restart ready / loaded ms: start again with etcd down, from the journal, to readiness notified (BIRD may start) / to both configs loaded by the stand-in BIRDs; journal MiB: on disk at the end; B/chg: journal bytes per single change';
  return [`tool: ${result.tool}`, fmt(head), ...rows.map(fmt), legend, ...birdTable(result), `load average (1 min) before->after: ${loads} on ${result.machine.cpus} CPUs`].join('\n');
}

/** The runs against a real BIRD (issue 18), if any: one more table. */
function birdTable(result) {
  const runs = result.sizes.filter((s) => s.bird);
  if (runs.length === 0) return [];
  const head = ['N', 'BIRD', 'put->file p50', 'p99', 'put->BIRD reply p50', 'p99', 'CPU/chg ms', 'child ms', 'configure ms p50', 'BIRD CPU/chg ms', 'BIRD RSS MiB', 'checked by daemon/bird -p'];
  const rows = runs.map((s) => {
    const b = s.bird;
    if (b.bird.error) return [s.n, b.bird.dialect, ...head.slice(2).map(() => '-')].map(String);
    return [
      s.n, b.bird.version, b.put.p50, b.put.p99, b.birdReply.p50, b.birdReply.p99, b.cpu.perChangeMinusIdleMs, b.cpu.childrenPerChangeMs,
      b.steps.reload.p50, b.bird.cpuPerChangeMinusIdleMs, b.bird.rssMiB, `${b.checkedBy.daemon}/${b.checkedBy.birdP}`,
    ].map(String);
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((x, i) => x.padStart(w[i])).join('  ');
  return [
    '',
    'against a real BIRD (check on: BIRD itself checks the staged file it loads, configure "<stage>"):',
    fmt(head),
    ...rows.map(fmt),
    ...runs.filter((s) => s.bird.bird.error).map((s) => `N=${s.n}: ${s.bird.bird.error}`),
    "put->BIRD reply: put -> the agent's check ok (checkedBy daemon), logged as BIRD's reply arrives; configure ms: that exchange (BIRD's parse + reconfiguration); BIRD CPU/chg: the daemon's own, idle rate subtracted",
  ];
}
