/** The etcd phase: a fresh etcd on a tmpfs, and N Calico hosts loaded into it. */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort, installExitHook, mounts, tempDirs, terminate, track } from './processes.mjs';
import { AS, MESH_MEMBERS, MiB, PREFIX, RR_IP, now, sleep } from './setup.mjs';
import { count } from './file-watch.mjs';

// ---------------------------------------------------------------- etcd

/**
 * A fresh etcd on loopback, data on a tmpfs mounted for it when possible
 * (else a temp dir). Big transactions allowed so that the loader can use
 * 1,000 puts per txn.
 */
export async function startEtcd({ log = () => {} } = {}) {
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'rr-bench-etcd-'));
  tempDirs.add(root);
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  let mounted = false;
  try {
    installExitHook();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g,mode=0700', 'tmpfs', dataDir], { stdio: 'ignore' });
    mounted = true;
    mounts.add(dataDir);
  } catch {
    log(`etcd: cannot mount tmpfs, data dir on ${tmpdir()}`);
  }
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'bench', '--data-dir', join(dataDir, 'etcd'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `bench=${peer}`, '--initial-cluster-state', 'new',
    '--max-txn-ops', '2000', '--max-request-bytes', String(16 * MiB),
    '--quota-backend-bytes', String(4 * 1024 * MiB), '--snapshot-count', '1000000',
    '--log-level', 'warn', '--logger', 'zap',
  ];
  const logFile = join(root, 'etcd.log');
  const child = track(spawn(process.env.ETCD_BIN ?? 'etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let errTail = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (errTail = (errTail + d).slice(-4000)));
  const cleanup = async () => {
    await terminate(child);
    if (mounted) {
      mounts.delete(dataDir);
      try {
        execFileSync('umount', [dataDir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dataDir], { stdio: 'ignore' });
      }
    }
    rmSync(root, { recursive: true, force: true });
    tempDirs.delete(root);
  };
  const health = await untilEtcdHealthy(endpoint, { timeoutMs: 20_000, stopped: () => child.exitCode !== null });
  if (health !== 'healthy') {
    await cleanup();
    throw new Error(health === 'exited' ? `etcd exited early: ${errTail}` : `etcd not healthy after 20 s: ${errTail}`);
  }
  return { endpoint, pid: child.pid, tmpfs: mounted, logFile, stop: cleanup };
}

// ---------------------------------------------------------------- data

const hostName = (i) => `node-${String(i).padStart(6, '0')}`;
export const hostIPv4 = (i) => `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`;
const hostIPv6 = (i) => `fd00::${((i + 1) >> 16).toString(16)}:${((i + 1) & 0xffff).toString(16)}`;
/** Unique IPv4 of a change: 100.<series>.x.y (series: 100 trials, 101 burst, 102 check trials). */
export const changeIp = (series, k) => `100.${series}.${(k >> 8) & 255}.${k & 255}`;
export const hostKey = (i, leaf) => `${PREFIX}/host/${hostName(i)}/${leaf}`;

/** Every key of the data set: as_num, 100 rr_v4 (ours first), and 3 keys per host. */
function* dataset(n) {
  yield [`${PREFIX}/global/as_num`, AS];
  for (let m = 1; m <= MESH_MEMBERS; m++) {
    const ip = `172.16.0.${m}`;
    yield [`${PREFIX}/rr_v4/${ip}`, JSON.stringify({ ip, cluster_id: '1.0.0.1' })];
  }
  for (let i = 0; i < n; i++) {
    yield [hostKey(i, 'ip_addr_v4'), hostIPv4(i)];
    yield [hostKey(i, 'ip_addr_v6'), hostIPv6(i)];
    yield [hostKey(i, `peer_v4/${RR_IP}`), JSON.stringify({ ip: RR_IP, as_num: AS })];
  }
}

/** Load the data set with `concurrency` transactions of `chunk` puts in flight. */
export async function loadHosts(client, n, options = {}) {
  return loadKeys(client, dataset(n), options);
}

/** Load `[key, value]` pairs from an iterator with `concurrency` transactions of `chunk` puts in flight. */
export async function loadKeys(client, it, { chunk = 1000, concurrency = 8 } = {}) {
  const t0 = now();
  let keys = 0;
  const next = () => {
    const ops = [];
    while (ops.length < chunk) {
      const r = it.next();
      if (r.done) break;
      const [k, v] = r.value;
      ops.push({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } });
    }
    return ops;
  };
  const worker = async () => {
    for (let ops = next(); ops.length > 0; ops = next()) {
      await client.kv.txn({ compare: [], success: ops, failure: [] });
      keys += ops.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { keys, ms: now() - t0 };
}

/** Whether etcd at `endpoint` says it is healthy (GET /health). Shared with test/support/etcd.ts. */
export async function etcdHealthy(endpoint) {
  try {
    const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok && (await r.json()).health === 'true';
  } catch {
    return false;
  }
}

/**
 * Ask etcdHealthy every 50 ms until it is, the process `stopped()`, or
 * `timeoutMs` passed: 'healthy', 'exited' or 'timeout'.
 * @param {string} endpoint
 * @param {{ timeoutMs: number, stopped: () => boolean }} o
 * @returns {Promise<'healthy' | 'exited' | 'timeout'>}
 */
export async function untilEtcdHealthy(endpoint, o) {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.stopped()) return 'exited';
    if (await etcdHealthy(endpoint)) return 'healthy';
    if (Date.now() > deadline) return 'timeout';
    await sleep(50);
  }
}
