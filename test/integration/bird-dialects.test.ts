/**
 * The agent's BIRD code and templates against each dialect's real daemon:
 * BIRD 1.6 (`bird`, `bird6`), BIRD 2.17 and BIRD 3.1 (one binary, run once
 * per family). Two route reflectors rr1, rr2 (the dialect under test, their
 * configs rendered by the agent's own renderer from a keyspace) mesh with
 * each other; Calico nodes n1 (client of rr1) and n2 (client of rr2) run
 * BIRD 1.6 and originate a prefix each, in both families.
 *
 * Checked per dialect: `--version`, `bird -p` verdicts and messages,
 * `show status` / `show protocols` / `show protocols all` over the socket
 * (the same rows birdc -v prints), configure reply codes (accepted,
 * rejected with the old config kept, removal in progress, nothing to do),
 * the health probe, the session poll's states, reflection with the
 * originating node's next hop, originator id and cluster list on an RR
 * with no IGP, and that a reload restarts only sessions whose options
 * changed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Family, KeyValue } from '../../src/core/events.js';
import { derivePlan } from '../../src/core/plan.js';
import { birdCheck, birdVersion } from '../../src/effects/bird-check.js';
import { birdConfigure, birdSocketCommand, probeSocket, showProtocols, showProtocolsAll, showVersion } from '../../src/effects/bird-socket.js';
import { bgpState } from '../../src/effects/metrics.js';
import { sessionResets, startBird, waitEstablished, type BirdHandle } from '../support/bird.js';
import { parseShowProtocols, parseShowProtocolsAll } from '../support/birdc.js';
import { birdBins, birdcBin, DIALECT_VERSION, DIALECTS, dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { createLab, type Lab } from '../support/netns.js';
import { nodeBirdConfig } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { createRenderer } from '../support/render.js';
import { clusterSet, routesAll } from '../support/routes.js';
import { kv, stateOf } from '../support/state.js';
import { execa } from 'execa';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/bird');
const AS = 64512;
const RR = { rr1: { v4: '10.77.0.1', v6: 'fd77::1', cluster: '1.0.0.1' }, rr2: { v4: '10.77.0.2', v6: 'fd77::2', cluster: '1.0.0.2' } };
const NODE = { n1: { v4: '10.77.0.11', v6: 'fd77::11', rr: 'rr1', route: { v4: '10.77.101.0/24', v6: 'fd77:101::/64' } }, n2: { v4: '10.77.0.12', v6: 'fd77::12', rr: 'rr2', route: { v4: '10.77.102.0/24', v6: 'fd77:102::/64' } } } as const;
type RrName = keyof typeof RR;

/** The keyspace of this lab; `extra` adds or overrides keys. */
function keyspace(extra: KeyValue[] = [], cluster1 = RR.rr1.cluster): KeyValue[] {
  const kvs: KeyValue[] = [kv('/global/as_num', String(AS)), kv('/global/loglevel', 'debug')];
  for (const [name, r] of Object.entries(RR)) {
    const cluster_id = name === 'rr1' ? cluster1 : r.cluster;
    kvs.push(kv(`/rr_v4/${r.v4}`, { ip: r.v4, cluster_id }), kv(`/rr_v6/${r.v6}`, { ip: r.v6, cluster_id }));
  }
  for (const [name, n] of Object.entries(NODE)) {
    const rr = RR[n.rr];
    kvs.push(kv(`/host/${name}/ip_addr_v4`, n.v4), kv(`/host/${name}/ip_addr_v6`, n.v6));
    kvs.push(kv(`/host/${name}/peer_v4/${rr.v4}`, { ip: rr.v4, as_num: AS }), kv(`/host/${name}/peer_v6/${rr.v6}`, { ip: rr.v6, as_num: AS }));
  }
  return [...kvs, ...extra];
}

/** rr's config in `dialect`, rendered by the agent's renderer. */
function rrConfig(dialect: Dialect, rr: RrName, family: Family, kvs = keyspace()): string {
  const plan = derivePlan(stateOf(kvs), family, { ip: RR[rr].v4, ip6: RR[rr].v6 });
  return Buffer.concat(createRenderer(dialect)(plan)).toString('latin1');
}

const sym = (ip: string): string => ip.replace(/[.:]/g, '_');
const ctl = (h: BirdHandle, timeoutMs = 5000) => ({ socket: h.socket, timeoutMs });
const birdcV = async (d: Dialect, socket: string, cmd: string): Promise<string> =>
  String((await execa(birdcBin(d), ['-v', '-s', socket, ...cmd.split(' ')], { stdin: 'ignore', timeout: 10_000 })).stdout);
const masked = <T extends { since: string }>(rows: T[]): T[] => rows.map((r) => ({ ...r, since: '-' }));

describe.skipIf(!canRun)('the BIRD dialects against their real daemons', { timeout: 120_000 }, () => {
  let lab: Lab | undefined;
  let dir = '';
  const nodes = new Map<string, BirdHandle>();

  beforeAll(async () => {
    dir = tempDir('rr-dialects');
    lab = await createLab(`rrdl${process.pid % 100000}`);
    for (const name of ['rr1', 'rr2'] as const) await lab.addHost(name, `${RR[name].v4}/24`, `${RR[name].v6}/64`);
    for (const [name, n] of Object.entries(NODE)) {
      const host = await lab.addHost(name, `${n.v4}/24`, `${n.v6}/64`);
      for (const family of ['v4', 'v6'] as const) {
        const config = nodeBirdConfig({ family, routerId: n.v4, self: n[family], rrs: [RR[n.rr][family]], as: AS, routes: [n.route[family]] });
        nodes.set(`${name}-${family}`, await startBird({ family, dir, name: `${name}-${family}`, netns: host.netns, config }));
      }
    }
  }, 60_000);

  afterAll(async () => {
    await killAllTracked();
    await lab?.destroy();
    if (dir) await removeDir(dir);
  }, 30_000);

  for (const dialect of DIALECTS) {
    describe(dialectName(dialect), () => {
      const rrs = new Map<string, BirdHandle>();
      const rr = (name: RrName, family: Family): BirdHandle => rrs.get(`${name}-${family}`)!;
      const node = (name: string, family: Family): BirdHandle => nodes.get(`${name}-${family}`)!;

      beforeAll(async () => {
        requireDialect(dialect);
        for (const name of ['rr1', 'rr2'] as const) {
          for (const family of ['v4', 'v6'] as const) {
            const netns = lab!.hosts.get(name)!.netns;
            const h = await startBird({ family, dir, name: `${dialect}-${name}-${family}`, netns, bin: birdBins(dialect)[family], config: rrConfig(dialect, name, family) });
            rrs.set(`${name}-${family}`, h);
          }
        }
        for (const family of ['v4', 'v6'] as const) {
          await waitEstablished(rr('rr1', family).socket, `Mesh_${sym(RR.rr2[family])}`, family);
          await waitEstablished(rr('rr1', family).socket, `Node_${sym(NODE.n1[family])}`, family);
          await waitEstablished(rr('rr2', family).socket, `Node_${sym(NODE.n2[family])}`, family);
        }
      }, 90_000);

      afterAll(async () => {
        for (const h of rrs.values()) await h.stop();
      });

      it('--version names the dialect; show status the running version', async () => {
        const bins = birdBins(dialect);
        expect(await birdVersion(bins.v4)).toEqual({ bin: bins.v4, version: DIALECT_VERSION[dialect], dialect });
        expect(await birdVersion(bins.v6)).toMatchObject({ dialect });
        expect(await showVersion(ctl(rr('rr1', 'v4')))).toBe(DIALECT_VERSION[dialect]);
        expect(await showVersion(ctl(rr('rr1', 'v6')))).toBe(DIALECT_VERSION[dialect]);
      });

      it('bird -p: the rendered configs pass; a bad or missing file gives BIRD\'s message on one line', async () => {
        for (const family of ['v4', 'v6'] as const) {
          expect(await birdCheck({ bird: birdBins(dialect)[family], file: rr('rr1', family).configPath, timeoutMs: 5000 })).toMatchObject({ ok: true, message: 'Configuration OK' });
        }
        const bad = join(dir, `${dialect}-bad.cfg`);
        writeFileSync(bad, 'router id 10.0.0.1;\nprotocol device { scan tme 10; }\n');
        const r = await birdCheck({ bird: birdBins(dialect).v4, file: bad, timeoutMs: 5000 });
        expect(r.ok).toBe(false);
        expect(r.message).toMatch(new RegExp(`^${bad}:2:24 syntax error`));
        const missing = await birdCheck({ bird: birdBins(dialect).v4, file: join(dir, 'nope.cfg'), timeoutMs: 5000 });
        expect(missing.message).toMatch(/^Unable to open configuration file .*nope\.cfg: No such file or directory$/);
      });

      it('show protocols over the socket: the rows birdc -v prints, BGP states for the session poll', async () => {
        const h = rr('rr1', 'v4');
        const rows = await showProtocols(ctl(h));
        expect(rows.map((r) => r.name)).toEqual(['device1', 'Mesh_10_77_0_2', 'Node_10_77_0_11']);
        for (const row of rows.slice(1)) {
          expect(row).toMatchObject({ proto: 'BGP', state: 'up', info: 'Established', table: dialect === 'bird1' ? 'master' : '---' });
          expect(row.since).toMatch(dialect === 'bird1' ? /^\d{2}:\d{2}:\d{2}$/ : /^\d{2}:\d{2}:\d{2}\.\d{3}$/);
          expect(bgpState(row)).toBe('Established');
        }
        expect(masked(rows)).toEqual(masked(parseShowProtocols(await birdcV(dialect, h.socket, 'show protocols'))));
        const all = await showProtocolsAll(ctl(h));
        expect(all.find((r) => r.name === 'Mesh_10_77_0_2')).toMatchObject({ neighbor: '10.77.0.2', bgpState: 'Established' });
        expect(all.find((r) => r.name === 'Node_10_77_0_11')).toMatchObject({ neighbor: '10.77.0.11', bgpState: 'Established' });
        expect(masked(all)).toEqual(masked(parseShowProtocolsAll(await birdcV(dialect, h.socket, 'show protocols all'))));
        const v6 = await showProtocolsAll(ctl(rr('rr1', 'v6')));
        expect(v6.find((r) => r.name === 'Node_fd77__11')).toMatchObject({ neighbor: 'fd77::11', bgpState: 'Established' });
      });

      it('reflects each node\'s prefix with the node\'s own next hop, originator id and both cluster ids, and holds it itself', async () => {
        for (const family of ['v4', 'v6'] as const) {
          for (const [name, other] of [['n2', 'n1'], ['n1', 'n2']] as const) {
            const want = NODE[other];
            const route = await waitFor(
              async () => (await routesAll(node(name, family).socket, family)).find((e) => e.prefix === want.route[family]),
              { timeoutMs: 20_000, intervalMs: 250, what: `${want.route[family]} on ${name}` },
            );
            expect(route.attrs.get('BGP.next_hop'), `${family} ${name}`).toBe(want[family]);
            expect(route.attrs.get('BGP.originator_id')).toBe(want.v4);
            expect(clusterSet(route)).toEqual([RR.rr1.cluster, RR.rr2.cluster]);
          }
          // The RR keeps the route in its own table, with the node as BGP next hop (unresolved: no IGP here).
          const held = await birdSocketCommand(rr('rr1', family).socket, `show route ${NODE.n1.route[family]} all`, 5000);
          expect(held.join('\n')).toContain(NODE.n1.route[family]);
          expect(held.join('\n')).toMatch(new RegExp(`(BGP\\.next_hop|bgp_next_hop): ${NODE.n1[family]}\\b`));
        }
      });

      it('a reload restarts only the sessions whose options changed', async () => {
        const h = rr('rr1', 'v4');
        const mesh = 'Mesh_10_77_0_2';
        const client = 'Node_10_77_0_11';
        const write = (kvs: KeyValue[]): void => h.writeConfig(rrConfig(dialect, 'rr1', 'v4', kvs));
        const nodeMark = node('n1', 'v4').logMark();
        // A new client node: an added protocol, nothing else touched.
        let mark = h.logMark();
        write(keyspace([kv('/host/n3/ip_addr_v4', '10.77.0.13'), kv('/host/n3/peer_v4/10.77.0.1', { ip: '10.77.0.1', as_num: AS })]));
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true, message: 'Reconfigured' });
        expect((await showProtocols(ctl(h))).map((r) => r.name)).toContain('Node_10_77_0_13');
        // The same file again: nothing restarts either.
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true, message: 'Reconfigured' });
        // The node goes: its protocol is shut down (in progress), the others stay.
        write(keyspace());
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true, message: 'Reconfiguration in progress' });
        await waitFor(async () => !(await showProtocols(ctl(h))).some((r) => r.name === 'Node_10_77_0_13'), { timeoutMs: 5000, what: 'Node_10_77_0_13 removed' });
        await new Promise((res) => setTimeout(res, 500));
        expect(sessionResets(h.logSince(mark), mesh)).toEqual([]);
        expect(sessionResets(h.logSince(mark), client)).toEqual([]);
        expect(sessionResets(node('n1', 'v4').logSince(nodeMark), 'rr_10_77_0_1')).toEqual([]);
        // Our cluster id changes: the client session restarts (its `rr cluster id`), the mesh session does not.
        mark = h.logMark();
        write(keyspace([], '1.0.0.9'));
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true, message: 'Reconfiguration in progress' });
        await waitEstablished(h.socket, client, 'v4', 30_000);
        expect(sessionResets(h.logSince(mark), client).length).toBeGreaterThan(0);
        expect(sessionResets(h.logSince(mark), mesh)).toEqual([]);
        write(keyspace());
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true });
        await waitEstablished(h.socket, client, 'v4', 30_000);
      });

      it('configure: a rejected file keeps the running config; confirm with nothing pending is "Nothing to do"', async () => {
        const h = rr('rr1', 'v6');
        const good = rrConfig(dialect, 'rr1', 'v6');
        h.writeConfig(`${good}protocol bgp Broken from bgp_template { neighbor fd77::99 as ; }\n`);
        const r = await birdConfigure(ctl(h));
        expect(r).toMatchObject({ ok: false, reachable: true });
        expect(r.message).toMatch(new RegExp(`^${h.configPath}:\\d+:\\d+ syntax error`));
        expect((await showProtocols(ctl(h))).map((x) => x.name)).toEqual(['device1', 'Mesh_fd77__2', 'Node_fd77__11']);
        expect((await probeSocket(h.socket, 2000)).up).toBe(true);
        h.writeConfig(good);
        expect(await birdConfigure(ctl(h))).toMatchObject({ ok: true, message: 'Reconfigured' });
        const confirm = await birdSocketCommand(h.socket, 'configure confirm', 5000);
        expect(confirm).toEqual(['0019 Nothing to do']);
      });

      it('health probe: an instance while up, a timeout while frozen, ECONNREFUSED once killed, a new instance after a restart', async () => {
        const h = rr('rr2', 'v6');
        const before = await probeSocket(h.socket, 2000);
        expect(before).toMatchObject({ up: true, instance: expect.stringMatching(/^ino=\d+,ctime=\d+$/) });
        expect(await probeSocket(h.socket, 2000)).toEqual(before);
        process.kill(h.pid, 'SIGSTOP');
        try {
          expect(await probeSocket(h.socket, 300)).toEqual({ up: false, reason: 'timeout' });
          expect(await birdConfigure(ctl(h, 300))).toMatchObject({ ok: false, timedOut: true });
        } finally {
          process.kill(h.pid, 'SIGCONT');
        }
        expect((await probeSocket(h.socket, 2000)).up).toBe(true);
        process.kill(h.pid, 'SIGKILL');
        await h.process.exited;
        expect(await probeSocket(h.socket, 2000)).toEqual({ up: false, reason: 'ECONNREFUSED' });
        const again = await startBird({ family: 'v6', dir, name: `${dialect}-rr2-v6`, netns: h.netns!, bin: birdBins(dialect).v6, config: rrConfig(dialect, 'rr2', 'v6') });
        rrs.set('rr2-v6', again);
        const after = await probeSocket(again.socket, 2000);
        expect(after.up).toBe(true);
        expect(after.instance).not.toEqual(before.instance);
      });
    });
  }
});
