/**
 * Fault 5: BIRD crash under s6. The project's s6 tree (s6/) runs the agent,
 * bird and bird6 in the route reflector's network namespace (etcd there too);
 * a Calico node runs bird and bird6 in another. bird and bird6 are SIGKILLed
 * (BIRD_CRASHES times each); a change is written while the daemon is down.
 * s6 restarts it, the agent re-applies the latest config, the sessions come
 * back: each step timed. Runs with the route reflector on BIRD 1.6 and on the
 * image's BIRD (test/support/dialect.ts: BIRD_BIN/BIRD6_BIN for the tree, the
 * s6 run scripts start that binary); the node stays on BIRD 1.6.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc, startBird, waitEstablished, type BirdHandle, type Family } from '../support/bird.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { nodeBirdConfig, peerName } from '../support/node-bird.js';
import { waitFor } from '../support/processes.js';
import { birdEnv, dialectName, reliabilityDialects, requireDialect, type Dialect } from '../support/dialect.js';
import { isBirdDaemon, startNsEtcd, startTree, teardownTreeLab, treeWork, type NsEtcd, type Tree } from '../support/s6.js';
import { figure, stats } from '../support/reliability.js';

const P = '/calico/bgp/v1';
const RR = '10.77.62.1';
const RR6 = 'fd77::62:1';
const N1 = '10.77.62.11';
const N16 = 'fd77::62:11';
const AS = 64512;
const CRASHES = Number(process.env['BIRD_CRASHES'] ?? 3);

function agentLines(t: Tree): Array<Record<string, unknown>> {
  return t
    .lines()
    .filter((l) => l.startsWith('{"service":"agent",'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** One lab and s6 tree per dialect, built and removed in turn. */
function crashSuite(d: Dialect): void {
  let lab: Lab;
  let rr: LabHost;
  let etcd: NsEtcd | undefined;
  let tree: Tree | undefined;
  const nodes: Partial<Record<Family, BirdHandle>> = {};
  const dirs: string[] = [];

  beforeAll(async () => {
    requireDialect(d);
    lab = await createLab(`rlc${d.slice(-1)}${process.pid % 10000}`);
    rr = await lab.addHost('rr', `${RR}/24`, `${RR6}/64`);
    const n1 = await lab.addHost('n1', `${N1}/24`, `${N16}/64`);
    const { work, env } = treeWork('rr-rel-s6', RR, dirs, { IP6: RR6, LOG_FORMAT: 'json', HTTP_LISTEN: 'off', ...birdEnv(d) });
    etcd = await startNsEtcd(rr.netns, join(work, 'etcd', 'data'));
    await etcd.put(`${P}/global/as_num`, String(AS));
    await etcd.put(`${P}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await etcd.put(`${P}/rr_v6/${RR6}`, JSON.stringify({ ip: RR6, cluster_id: '1.0.0.1' }));
    await etcd.put(`${P}/host/n1/ip_addr_v4`, N1);
    await etcd.put(`${P}/host/n1/ip_addr_v6`, N16);
    await etcd.put(`${P}/host/n1/peer_v4/${RR}`, JSON.stringify({ ip: RR, as_num: String(AS) }));
    await etcd.put(`${P}/host/n1/peer_v6/${RR6}`, JSON.stringify({ ip: RR6, as_num: String(AS) }));
    nodes.v4 = await startBird({ family: 'v4', netns: n1.netns, config: nodeBirdConfig({ family: 'v4', routerId: N1, self: N1, rrs: [RR], as: AS, routes: ['10.77.162.0/24'] }) });
    nodes.v6 = await startBird({ family: 'v6', netns: n1.netns, config: nodeBirdConfig({ family: 'v6', routerId: N1, self: N16, rrs: [RR6], as: AS, routes: ['fd77:162::/64'] }) });
    tree = startTree({ netns: rr.netns, env });
    await tree.waitUp(60_000);
    await waitEstablished(nodes.v4.socket, peerName(RR), 'v4', 30_000);
    await waitEstablished(nodes.v6.socket, peerName(RR6), 'v6', 30_000);
  }, 120_000);

  afterAll(() => teardownTreeLab(tree, lab, dirs), 60_000);

  describe('fault 5: BIRD crash under s6', () => {
    for (const family of ['v4', 'v6'] as const) {
      const svc = family === 'v4' ? 'bird' : 'bird6';
      it(`SIGKILL ${svc} ${CRASHES} times: s6 restarts it, the latest config is applied, sessions come back`, async () => {
        const T = `${svc} SIGKILL under s6 (${dialectName(d)})`;
        const t1 = tree!;
        const node = nodes[family]!;
        const restart: number[] = [];
        const applied: number[] = [];
        const session: number[] = [];
        for (let k = 0; k < CRASHES; k++) {
          const before = await t1.stat(svc);
          expect(isBirdDaemon(before.pid)).toBe(true);
          const mark = agentLines(t1).length;
          const t0 = Date.now();
          process.kill(before.pid, 'SIGKILL');
          // A change while the daemon is down: a client that exists only in etcd.
          const ghost = family === 'v4' ? `10.77.62.${100 + k}` : `fd77::62:${100 + k}`;
          await etcd!.put(`${P}/host/g${family}${k}/ip_addr_${family}`, ghost);
          await etcd!.put(`${P}/host/g${family}${k}/peer_${family}/${family === 'v4' ? RR : RR6}`, JSON.stringify({ ip: family === 'v4' ? RR : RR6, as_num: String(AS) }));
          const after = await waitFor(
            async () => {
              const s = await t1.stat(svc);
              return s.up && s.pid !== before.pid && isBirdDaemon(s.pid) ? s : undefined;
            },
            { what: `${svc} restarted by s6`, timeoutMs: 30_000, intervalMs: 20 },
          );
          restart.push(Date.now() - t0);
          const socket = String((agentLines(t1).find((l) => l['msg'] === 'agent started')?.['sockets'] as Record<string, string>)[family]);
          await waitFor(async () => (await birdc(socket, 'show protocols', family)).includes(`Node_${ghost.replace(/[.:]/g, '_')}`), {
            what: 'latest config running',
            timeoutMs: 15_000,
            intervalMs: 20,
          });
          applied.push(Date.now() - t0);
          // BIRD may start on the new file already; the agent still re-applies the latest config to the new instance.
          try {
            await waitFor(() => agentLines(t1).slice(mark).some((l) => l['msg'] === 'reload ok' && l['family'] === family), {
              what: `agent reloaded the new ${svc}`,
              timeoutMs: 15_000,
            });
          } catch (e) {
            const tail = t1.lines().slice(-60).join('\n  ');
            throw new Error(`${(e as Error).message}\ntree output since the kill (last 60 lines):\n  ${tail}`);
          }
          await waitEstablished(node.socket, peerName(family === 'v4' ? RR : RR6), family, 60_000);
          session.push(Date.now() - t0);
          console.log(`[detail] ${svc} crash ${k + 1}: pid ${before.pid} -> ${after.pid}; restarted ${restart[k]} ms, latest config applied ${applied[k]} ms, session Established ${session[k]} ms`);
        }
        const s = (xs: number[]): string => `${stats(xs).median}/${stats(xs).max}`;
        figure(T, `kill to restarted by s6, median/max of ${CRASHES}`, s(restart), 'ms');
        figure(T, `kill to latest config running in the new BIRD, median/max`, s(applied), 'ms');
        figure(T, `kill to node session Established again, median/max`, s(session), 'ms');
      }, 60_000 + CRASHES * 60_000);
    }
  });
}

for (const d of reliabilityDialects()) {
  describe(`route reflector on ${dialectName(d)}`, () => crashSuite(d));
}
