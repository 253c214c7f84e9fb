/**
 * Fault 4b (issue 18): the agent SIGKILLed between the running BIRD's
 * acceptance of the staged file (`configure "<stage>"` answered `0003`/`0004`)
 * and the rename of that file over bird.cfg, STAGE_KILLS times on each
 * dialect (BIRD 1.6, 2 and 3 as the route reflector's BIRD).
 *
 * The agent talks to the route reflector's BIRD through a proxy
 * (test/support/bird-socket-proxy.ts) that records every file BIRD accepted
 * (sha256 of the named file, or of bird.cfg for a plain `configure`, read
 * while the agent waits for the reply) and, once armed, kills the agent on
 * the next accepted `configure "FILE"`: half the time before BIRD's reply is
 * relayed (the agent cannot have renamed), half a random 0-4 ms after (the
 * kill lands before, in or after the rename). After each kill: BIRD runs the
 * change, bird.cfg is a file BIRD accepted (the old one or the new one,
 * never another), and a restarted agent converges (bird.cfg holds every
 * client, BIRD runs it). The Calico node's session is never reset.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgent, stopAllAgents, type AgentProcess } from '../support/agent.js';
import { birdc, sessionResets, waitEstablished, type BirdHandle } from '../support/bird.js';
import { birdSocketProxy, type BirdSocketProxy } from '../support/bird-socket-proxy.js';
import { birdEnv, DIALECTS, dialectName, requireDialect } from '../support/dialect.js';
import { peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { figure } from '../support/reliability.js';
import { AS, N1, RR, RR6, createRrLab, type RrLab } from '../support/rr-lab.js';

const KILLS = Number(process.env['STAGE_KILLS'] ?? 16);

let lab: RrLab;
let node: BirdHandle;
const dirs: string[] = [];
const proxies: BirdSocketProxy[] = [];

beforeAll(async () => {
  lab = await createRrLab({ prefix: `rsk${process.pid % 10000}` });
  node = await lab.startNode('n1', N1, '10.77.100.0/24');
}, 120_000);

afterAll(async () => {
  await stopAllAgents();
  await killAllTracked();
  for (const p of proxies) await p.close();
  await lab?.destroy();
  for (const d of dirs) await removeDir(d);
});

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const proto = (ip: string): string => `Node_${ip.replace(/[.:]/g, '_')}`;
const ACCEPTED = /^(0003|0004|0005) /;

let base = 50;
for (const d of DIALECTS) {
  describe(`fault 4b: agent killed between BIRD's acceptance and the rename (${dialectName(d)})`, () => {
    it(`SIGKILL after configure "<stage>" is accepted, ${KILLS} times: bird.cfg always a file BIRD accepted, converges after restart`, async () => {
      requireDialect(d);
      const T = `agent SIGKILL after BIRD accepted (${dialectName(d)})`;
      const dir = tempDir('rr-rel-stagekill');
      dirs.push(dir);
      const cfg = join(dir, 'bird.cfg');
      const proxy = await birdSocketProxy(join(dir, 'bird.ctl'), join(dir, 'proxy.ctl'));
      proxies.push(proxy);
      const accepted = new Set<string>();
      let armed: { mode: 'before' | 'after'; agent: AgentProcess } | undefined;
      proxy.onReply = (command, reply) => {
        if (!reply.some((l) => ACCEPTED.test(l))) return;
        const file = /^configure "([^"]+)"/.exec(command)?.[1] ?? (command.trim() === 'configure' ? cfg : undefined);
        if (file === undefined) return;
        accepted.add(sha(file));
        if (armed === undefined || file === cfg) return;
        const { mode, agent } = armed;
        armed = undefined;
        if (mode === 'before') process.kill(agent.pid, 'SIGKILL');
        else setTimeout(() => process.kill(agent.pid, 'SIGKILL'), Math.floor(Math.random() * 5));
      };
      const env = {
        IP: RR,
        IP6: RR6,
        ETCD_ENDPOINTS: lab.etcd.endpoint,
        CONFIG_DIR: dir,
        BIRD_SOCKET: proxy.path,
        BIRD6_SOCKET: join(dir, 'bird6.ctl'),
        PROBE_INTERVAL_MS: '200',
        HTTP_LISTEN: 'off',
        ...birdEnv(d),
      };
      const rr = await lab.startRr({ dir, env, dialect: d });
      const nodeMark = node.logMark();
      accepted.add(sha(cfg)); // what BIRD started with (and reloaded since)
      await waitEstablished(rr.bird.socket, proto(N1));
      const clients: string[] = [];
      let agent = rr.agent;
      let renamedBeforeKill = 0;
      const converged = async (a: AgentProcess, from: number): Promise<void> => {
        await a.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'reload ok after start', { from, timeoutMs: 30_000 });
        await waitFor(() => clients.every((ip) => readFileSync(cfg, 'utf8').includes(`neighbor ${ip} as`)), { what: 'bird.cfg holds every client', timeoutMs: 30_000 });
        const protos = await birdc(rr.bird.socket, 'show protocols');
        for (const ip of clients) expect(protos, `BIRD runs ${ip}`).toContain(proto(ip));
        expect(accepted.has(sha(cfg)), 'bird.cfg is a file BIRD accepted').toBe(true);
      };
      try {
        for (let k = 0; k < KILLS; k++) {
          armed = { mode: k % 2 === 0 ? 'before' : 'after', agent };
          const ip = `10.77.0.${base + k}`;
          await lab.put(`/host/k${base + k}/ip_addr_v4`, ip);
          await lab.put(`/host/k${base + k}/peer_v4/${RR}`, { ip: RR, as_num: AS });
          clients.push(ip);
          const victim = agent;
          await waitFor(() => victim.child.exitCode !== null || victim.child.signalCode !== null, { what: `agent killed (${k + 1})`, timeoutMs: 30_000 });
          await victim.stop();
          expect(victim.child.signalCode).toBe('SIGKILL');
          // BIRD accepted the change before the kill: it runs it.
          expect(await birdc(rr.bird.socket, 'show protocols')).toContain(proto(ip));
          expect(accepted.has(sha(cfg)), `bird.cfg after kill ${k + 1} is a file BIRD accepted`).toBe(true);
          if (readFileSync(cfg, 'utf8').includes(`neighbor ${ip} as`)) renamedBeforeKill++;
          agent = runAgent(env);
          await converged(agent, 0);
        }
        await waitFor(() => !existsSync(join(dir, '.bird.cfg.stage')), { what: 'no stage file left', timeoutMs: 10_000 });
        expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
        figure(T, 'kills after BIRD accepted the staged file', KILLS);
        figure(T, 'of which bird.cfg still the previous file / already the new one', `${KILLS - renamedBeforeKill} / ${renamedBeforeKill}`);
        figure(T, 'bird.cfg after a kill not one BIRD accepted / restarts that did not converge / session resets', '0 / 0 / 0');
      } finally {
        armed = undefined;
        await agent.stop();
        await rr.bird.stop();
        base += KILLS;
      }
    }, 600_000);
  });
}
