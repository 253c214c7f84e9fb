/**
 * Bad input: property tests (fast-check) over every key of the keyspace with
 * generated values (wrong JSON, wrong types, bad and edge-case IPs,
 * IPv4-mapped IPv6, huge strings, control characters, BIRD syntax).
 *
 * 1. The pure core, thousands of cases (FUZZ_RUNS): fold -> plan -> render.
 *    Every line of every rendered file fits the template's grammar with only
 *    validated tokens in it; each rejected value is reported once with its
 *    key; a sample of the rendered files passes the real `bird -p`/`bird6 -p`.
 * 2. Live: the same generators written into a real etcd while the agent runs
 *    (with its real `bird -p` check): it never crashes, never fails a check,
 *    logs each rejected value once with its key, and ends with the config a
 *    fresh `render` gives.
 * 3. Duplicates and conflicts, live: one session each, logged.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { FAMILIES, type EtcdEvent } from '../../src/core/events.js';
import { classifyKey, parseEntry } from '../../src/core/keyspace.js';
import { derivePlan } from '../../src/core/plan.js';
import { createRenderer } from '../support/render.js';
import { foldBatch, createState } from '../../src/core/state.js';
import { freshRender as renderOnce, runAgent, stopAllAgents } from '../support/agent.js';
import { startEtcd, type EtcdProcess } from '../support/etcd.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { birdBins, requireDialect } from '../support/dialect.js';
import { birdParse, figure, grammarViolations, sleep } from '../support/reliability.js';

const RR = '10.77.0.1';
const RR6 = 'fd77::1';
const SELF = { ip: RR, ip6: RR6 };
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 3000);
const LIVE = Number(process.env['FUZZ_LIVE_VALUES'] ?? 400);
const dirs: string[] = [];
const etcds: EtcdProcess[] = [];
const clients: Etcd3[] = [];

afterAll(async () => {
  await stopAllAgents();
  for (const c of clients) c.close();
  await killAllTracked();
  for (const e of etcds) await e.stop();
  for (const d of dirs) await removeDir(d);
});

// ---------------------------------------------------------------------------
// Generators.

const INJECT = ['; protocol kernel { export all; }', '}', '{', '#', '"', '\n', '\r\n', '\\', '\u0000', '\u001b[31m', 'include "/etc/passwd";', '*/', '/*'];
const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const near = fc.constantFrom('10.77.0.2', '10.77.0.3', '10.77.0.11', '10.77.0.12', RR);
const near6 = fc.constantFrom('fd77::2', 'fd77::11', 'FD77:0::2', 'fd77:0:0:0:0:0:0:11', RR6);
const hex = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const v6 = fc.array(hex, { minLength: 8, maxLength: 8 }).map((h) => h.join(':'));
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...INJECT),
  fc.tuple(fc.constantFrom(...INJECT), fc.string({ maxLength: 10 })).map(([a, b]) => a + b),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => 'A;}'.repeat(n)), // huge
);
const ipish = fc.oneof(
  { weight: 4, arbitrary: near },
  { weight: 3, arbitrary: near6 },
  { weight: 2, arbitrary: v4 },
  { weight: 2, arbitrary: v6 },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '::ffff:10.77.0.2', '::ffff:a4d:2', '::10.77.0.2', '0.0.0.0', '255.255.255.255', '224.0.0.1', '010.77.0.2', '10.77.0.02',
      '10.77.2', '10.77.0.256', '0x0a.0.0.1', '1e1.0.0.1', ' 10.77.0.2', '10.77.0.2 ', 'fe80::1', 'fe80::1%eth0', '::', '::1', 'ff02::1',
      'fd77::1/64', '10.77.0.0/24', 'fd77::g', 'fd77:::1', '1:2:3:4:5:6:7:8:9', '10.77.0.2;', 'localhost', '',
    ),
  },
  { weight: 2, arbitrary: fc.tuple(near, fc.constantFrom(...INJECT)).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: nasty },
);
const asish = fc.oneof(
  fc.integer({ min: 1, max: 4294967295 }),
  fc.integer({ min: 1, max: 4294967295 }).map(String),
  fc.constantFrom(0, -1, 4294967296, 1.5, '0', '-1', '4294967296', '64512 ', ' 64512', '64512;', '0x10', '1e3', '', null, true, [64512], { as: 1 }),
  nasty,
);
const clusterish = fc.oneof(v4, fc.integer({ min: 0, max: 4294967295 }), fc.constantFrom('1.0.0.01', '256.0.0.1', '1.0.0', -1, 4294967296, '', null), nasty);
const jsonish = (ip: fc.Arbitrary<unknown>, extra: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ ip, ...extra }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: nasty },
    { weight: 1, arbitrary: fc.record({ ip, ...extra }).map((o) => JSON.stringify(o).slice(0, -1)) }, // truncated JSON
  );
const node = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('n1', 'n2', 'n3', 'n4') }, { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_.;{}"#-]{1,12}$/) });
const fam = fc.constantFrom('v4', 'v6');

/** [key suffix, value] for every kind of key. */
const entry: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constant('/global/as_num'), asish.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))),
  fc.tuple(fc.constant('/global/loglevel'), fc.oneof(fc.constantFrom('debug', 'info', 'none', 'DEBUG', 'warning'), nasty)),
  fc.tuple(fam, ipish).chain(([f, ip]) => fc.tuple(fc.constant(`/global/peer_${f}/${ip}`), jsonish(fc.oneof(fc.constant(ip), ipish), { as_num: asish }))),
  fc.tuple(node, fam).chain(([n, f]) => fc.tuple(fc.constant(`/host/${n}/ip_addr_${f}`), ipish.map(String))),
  fc.tuple(node, asish).map(([n, a]): [string, string] => [`/host/${n}/as_num`, typeof a === 'string' ? a : JSON.stringify(a)]),
  fc.tuple(node, fam, ipish).chain(([n, f, ip]) => fc.tuple(fc.constant(`/host/${n}/peer_${f}/${ip}`), jsonish(fc.oneof(fc.constant(ip), ipish), { as_num: asish }))),
  fc.tuple(fam, ipish).chain(([f, ip]) => fc.tuple(fc.constant(`/rr_${f}/${ip}`), jsonish(fc.oneof(fc.constant(ip), ipish), { cluster_id: clusterish }))),
  fc.tuple(fc.constantFrom('/global/node_mesh', '/host/n1/unknown', '/rr_v4', '/host//ip_addr_v4'), nasty),
);

// Each entry also makes the matching "valid" records likely, so plans have sessions.
const scaffold: Array<[string, string]> = [
  [`/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' })],
  [`/rr_v6/${RR6}`, JSON.stringify({ ip: RR6, cluster_id: '1.0.0.1' })],
  [`/global/peer_v4/${RR}`, JSON.stringify({ ip: RR, as_num: '64512' })],
  [`/global/peer_v6/${RR6}`, JSON.stringify({ ip: RR6, as_num: '64512' })],
];

type Op = { put: [string, string] } | { del: string };
const op: fc.Arbitrary<Op> = fc.oneof({ weight: 6, arbitrary: entry.map((e) => ({ put: e })) }, { weight: 1, arbitrary: entry.map(([k]) => ({ del: k })) });

// ---------------------------------------------------------------------------

describe('fuzzing the pure core', () => {
  it(`${RUNS} generated keyspaces: files fit the grammar, rejections reported once with their key, a sample passes bird -p`, async () => {
    const render = createRenderer();
    // The same plans in BIRD 2/3 syntax: the same grammar, and a sample for BIRD 3's own parser.
    const render2 = createRenderer('bird2');
    const sample = new Map<string, 'v4' | 'v6'>();
    const sample2 = new Map<string, 'v4' | 'v6'>();
    let cases = 0;
    let sessions = 0;
    let rejections = 0;
    let values = 0;
    const t0 = performance.now();
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (withScaffold, batches) => {
        cases++;
        const state = createState();
        let rev = 1;
        if (withScaffold) foldBatch(state, PREFIX, { revision: rev, events: [{ type: 'resync', revision: rev, kvs: scaffold.map(([k, v]) => ({ key: PREFIX + k, value: v })) }] });
        for (const batch of batches) {
          rev++;
          const prev = new Map(state.raw);
          const events: EtcdEvent[] = batch.map((o) =>
            'put' in o ? { type: 'put', key: PREFIX + o.put[0], value: o.put[1], revision: rev } : { type: 'delete', key: PREFIX + o.del, revision: rev },
          );
          values += events.length;
          // Oracle: which puts must be reported (a value that changed and does not validate).
          const expected: string[] = [];
          for (const ev of events) {
            if (ev.type === 'delete') {
              prev.delete(ev.key);
              continue;
            }
            if (ev.type !== 'put') continue;
            const cls = classifyKey(PREFIX, ev.key);
            if (!cls || prev.get(ev.key) === ev.value) continue;
            prev.set(ev.key, ev.value);
            if (!parseEntry(cls, ev.value).ok) expected.push(ev.key);
          }
          const res = foldBatch(state, PREFIX, { revision: rev, events });
          expect(res.rejected.map((r) => r.key)).toEqual(expected);
          for (const r of res.rejected) expect(r.reason.length).toBeLessThan(400); // reasons quote at most 64 chars of the value
          rejections += res.rejected.length;
        }
        // The state folded change by change plans exactly as one read of the same keys at once.
        const fresh = createState();
        foldBatch(fresh, PREFIX, { revision: rev, events: [{ type: 'resync', revision: rev, kvs: [...state.raw].map(([key, value]) => ({ key, value })) }] });
        for (const f of FAMILIES) expect(derivePlan(state, f, SELF)).toEqual(derivePlan(fresh, f, SELF));
        for (const f of FAMILIES) {
          const plan = derivePlan(state, f, SELF);
          const text = Buffer.concat(render(plan)).toString('latin1');
          sessions += plan.sessions.length;
          const bad = grammarViolations(text, f);
          if (bad.length > 0) throw new Error(`${f} config has lines outside the grammar: ${JSON.stringify(bad.slice(0, 5))}\n${text}`);
          if (plan.sessions.length > 0 && sample.size < 200 && cases % 3 === 0) sample.set(text, f);
          const text2 = Buffer.concat(render2(plan)).toString('latin1');
          const bad2 = grammarViolations(text2, f);
          if (bad2.length > 0) throw new Error(`${f} BIRD 2/3 config has lines outside the grammar: ${JSON.stringify(bad2.slice(0, 5))}\n${text2}`);
          if (plan.sessions.length > 0 && sample2.size < 20 && cases % 7 === 0) sample2.set(text2, f);
        }
      }),
      { numRuns: RUNS, seed: Number(process.env['FUZZ_SEED'] ?? 20261125) },
    );
    const coreMs = performance.now() - t0;
    const dir = tempDir('rr-rel-fuzz');
    dirs.push(dir);
    let i = 0;
    const failures: string[] = [];
    requireDialect('bird3');
    const files = [...[...sample].map(([text, f]) => [text, f, undefined] as const), ...[...sample2].map(([text, f]) => [text, f, birdBins('bird3')[f]] as const)];
    const t1 = performance.now();
    for (let j = 0; j < files.length; j += 4) {
      await Promise.all(
        files.slice(j, j + 4).map(async ([text, f, bin]) => {
          const file = join(dir, `c${i++}.cfg`);
          writeFileSync(file, text);
          const r = await birdParse(f, file, bin);
          if (!r.ok) failures.push(`${file}: ${r.message}`);
        }),
      );
    }
    figure('fuzz (pure core)', 'generated keyspaces / values', `${cases} / ${values}`);
    figure('fuzz (pure core)', 'rejected values, each reported once with its key', rejections);
    figure('fuzz (pure core)', 'sessions rendered', sessions);
    figure('fuzz (pure core)', 'lines outside the template grammar', 0);
    figure('fuzz (pure core)', 'time for all cases', coreMs, 'ms');
    figure('fuzz (pure core)', `rendered files checked by bird -p/bird6 -p, BIRD 2/3 syntax by bird3 -p (${Math.round(performance.now() - t1)} ms)`, `${files.length}, ${failures.length} rejected`);
    expect(failures).toEqual([]);
    expect(files.length).toBeGreaterThan(50);
  }, 300_000);
});

/** The reference configs: `routereflector render` into a fresh dir with the same environment. */
function freshRender(env: Record<string, string>): Promise<{ v4: string; v6: string }> {
  const out = tempDir('rr-rel-fz-ref');
  dirs.push(out);
  return renderOnce(env, out);
}

async function liveAgent(): Promise<{ etcd: EtcdProcess; client: Etcd3; dir: string; env: Record<string, string> }> {
  const etcd = await startEtcd();
  etcds.push(etcd);
  const client = new Etcd3({ hosts: etcd.endpoint });
  clients.push(client);
  const dir = tempDir('rr-rel-fzl');
  dirs.push(dir);
  mkdirSync(dir, { recursive: true });
  const env = {
    IP: RR,
    IP6: RR6,
    ETCD_ENDPOINTS: etcd.endpoint,
    CONFIG_DIR: dir,
    BIRD_SOCKET: join(dir, 'bird.ctl'),
    BIRD6_SOCKET: join(dir, 'bird6.ctl'),
    PROBE_INTERVAL_MS: '1000',
    HTTP_LISTEN: 'off',
  };
  return { etcd, client, dir, env };
}

describe('fuzzing the live agent', () => {
  it(`${LIVE} generated values into real etcd: no crash, no failed check, each rejection logged once with its key, final config = fresh render`, async () => {
    const { client, dir, env } = await liveAgent();
    const kv = client.namespace(PREFIX);
    for (const [k, v] of scaffold) await kv.put(k).value(v);
    const agent = runAgent(env);
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'first install', { timeoutMs: 20_000 });
    const mark = agent.lines.length;

    // One put per key (a key written twice with one value is, rightly, not logged twice).
    const seen = new Set<string>(scaffold.map(([k]) => k));
    const writes: Array<[string, string]> = [];
    for (const [k, v] of fc.sample(entry, { numRuns: LIVE * 3, seed: 42 })) {
      if (seen.has(k) || writes.length >= LIVE) continue;
      seen.add(k);
      writes.push([k, v]);
    }
    const t0 = Date.now();
    let lastRev = 0;
    for (const [k, v] of writes) {
      const r = await kv.put(k).value(v);
      lastRev = Number(r.header.revision);
    }
    await waitFor(() => agent.lines.some((l) => l.msg === 'etcd batch' && Number(l['revision']) >= lastRev), { what: 'agent saw every write', timeoutMs: 60_000 });
    const ref = await freshRender(env);
    await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8') === ref.v4 && readFileSync(join(dir, 'bird6.cfg'), 'utf8') === ref.v6, {
      what: 'final configs equal a fresh render',
      timeoutMs: 30_000,
    });
    figure('fuzz (live agent)', `${writes.length} values written to etcd to final config installed`, Date.now() - t0, 'ms');
    await sleep(500);

    expect(agent.child.exitCode).toBeNull();
    expect(agent.lines.filter((l) => l['unparsed'])).toEqual([]);
    expect(agent.find((l) => l.step === 'check' && l.ok === false)).toEqual([]);
    const skipped = agent.find((l) => l.msg === 'invalid entry skipped', mark);
    let invalid = 0;
    for (const [k, v] of writes) {
      const cls = classifyKey(PREFIX, PREFIX + k);
      const bad = cls !== undefined && !parseEntry(cls, v).ok;
      if (bad) invalid++;
      expect(skipped.filter((l) => l.key === PREFIX + k), `${k} = ${JSON.stringify(v.slice(0, 80))}`).toHaveLength(bad ? 1 : 0);
    }
    for (const f of FAMILIES) expect(grammarViolations(f === 'v4' ? ref.v4 : ref.v6, f)).toEqual([]);
    for (const [f, file] of [['v4', 'bird.cfg'], ['v6', 'bird6.cfg']] as const) expect((await birdParse(f, join(dir, file))).ok).toBe(true);
    const checks = agent.find((l) => l.step === 'check', mark).length;
    figure('fuzz (live agent)', 'values written / rejected (each logged once with its key) / failed checks', `${writes.length} / ${invalid} / 0 (of ${checks} checks)`);
    figure('fuzz (live agent)', 'sessions in the final configs', `${(ref.v4.match(/^protocol bgp /gm) ?? []).length} v4, ${(ref.v6.match(/^protocol bgp /gm) ?? []).length} v6`);
    await agent.stop();
  }, 180_000);
});

describe('duplicates and conflicts', () => {
  it('two hosts with one IP, a node both global and node-specific client, an RR listed as a client: one session each, logged', async () => {
    const { client, dir, env } = await liveAgent();
    const kv = client.namespace(PREFIX);
    const peer = (ip: string, as = '64512'): string => JSON.stringify({ ip, as_num: as });
    for (const [k, v] of scaffold) await kv.put(k).value(v);
    await kv.put('/global/as_num').value('64512');
    await kv.put('/rr_v4/10.77.0.2').value(JSON.stringify({ ip: '10.77.0.2', cluster_id: '1.0.0.1' }));
    // two hosts, one address
    await kv.put('/host/dupA/ip_addr_v4').value('10.77.0.21');
    await kv.put('/host/dupB/ip_addr_v4').value('10.77.0.21');
    // global (scaffold) and node-specific client, different AS
    await kv.put('/host/both/ip_addr_v4').value('10.77.0.22');
    await kv.put(`/host/both/peer_v4/${RR}`).value(peer(RR, '64600'));
    // an RR (mesh member) listed as a node, and a node with this RR's own address
    await kv.put('/host/rr2/ip_addr_v4').value('10.77.0.2');
    await kv.put('/host/me/ip_addr_v4').value(RR);
    // one address written two ways (IPv6 normalisation)
    await kv.put('/host/six1/ip_addr_v6').value('fd77::23');
    await kv.put('/host/six2/ip_addr_v6').value('fd77:0:0::23');
    const agent = runAgent(env);
    const plan = await agent.waitForLine((l) => l.msg?.startsWith('plan v4') === true, 'v4 plan', { timeoutMs: 20_000 });
    const plan6 = await agent.waitForLine((l) => l.msg?.startsWith('plan v6') === true, 'v6 plan', { timeoutMs: 20_000 });
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'install', { timeoutMs: 20_000 });
    const text = readFileSync(join(dir, 'bird.cfg'), 'utf8');
    const text6 = readFileSync(join(dir, 'bird6.cfg'), 'utf8');
    const count = (t: string, ip: string): number => t.split('\n').filter((l) => l.startsWith(`  neighbor ${ip} as `)).length;
    expect(count(text, '10.77.0.21')).toBe(1);
    expect(count(text, '10.77.0.22')).toBe(1);
    expect(text).toContain('  neighbor 10.77.0.22 as 64600;'); // node-specific wins
    expect(count(text, '10.77.0.2')).toBe(1);
    expect(text).toMatch(/protocol bgp Mesh_10_77_0_2 /);
    expect(text).not.toMatch(/protocol bgp Node_10_77_0_2 /);
    expect(count(text, RR)).toBe(0);
    expect(count(text6, 'fd77::23')).toBe(1);
    const conflicts = [...((plan['conflicts'] as string[] | undefined) ?? []), ...((plan6['conflicts'] as string[] | undefined) ?? [])];
    console.log(`[detail] conflicts logged: ${JSON.stringify(conflicts)}`);
    expect(conflicts.some((c) => c.includes('dupA') && c.includes('dupB'))).toBe(true);
    expect(conflicts.some((c) => c.includes('both') && c.includes('64600'))).toBe(true);
    expect(conflicts.some((c) => c.includes('rr2') && c.includes('mesh member'))).toBe(true);
    expect(conflicts.some((c) => c.includes('me') && c.includes('own address'))).toBe(true);
    expect(conflicts.some((c) => c.includes('six1') && c.includes('six2'))).toBe(true);
    expect((await birdParse('v4', join(dir, 'bird.cfg'))).ok).toBe(true);
    figure('duplicates and conflicts', 'cases / sessions per neighbour / conflicts logged', `5 / 1 / ${conflicts.length}`);
    await agent.stop();
  }, 60_000);
});
