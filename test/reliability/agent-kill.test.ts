/**
 * Fault 4: the agent SIGKILLed at random points of a stream of changes,
 * 100 times (AGENT_KILLS). After every kill both config files are complete
 * and pass `bird -p`; after the last, a fresh agent converges to the config
 * a fresh `render` of the same data gives.
 *
 * And after every kill the agent is started again with etcd down (an
 * endpoint nobody listens on), from its journal: it either starts from a
 * state whose configs are exactly the files on disk, and those files are what
 * etcd's own data at the journal's revision renders (read back from etcd at
 * that revision), or it says why not and waits for etcd. It never writes a
 * file meanwhile. Then it is killed too, and the next life (etcd up) starts
 * from whatever journal that left. At the end the journal of all these lives
 * replays, every generation byte for byte (`routereflector replay`).
 *
 * Real etcd, real `bird -p`; DEBOUNCE_MS=0 so the agent writes all the time
 * and kills land inside write/check/install as often as possible (counted:
 * a leftover stage file means the kill hit between stage and rename).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv, PREFIX } from '../../src/core/config.js';
import { FAMILIES, type Family } from '../../src/core/events.js';
import { derivePlan, selfOf } from '../../src/core/plan.js';
import { sha256Of } from '../../src/core/config-bytes.js';
import { freePort } from '../support/etcd.js';
import { createRenderer } from '../support/render.js';
import { stateOf } from '../support/state.js';
import { MAIN, runAgent, stopAllAgents } from '../support/agent.js';
import { startEtcd, type EtcdProcess } from '../support/etcd.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { birdParse, figure, grammarViolations, sleep, stats } from '../support/reliability.js';

const RR = '10.77.0.1';
const RR6 = 'fd77::1';
const KILLS = Number(process.env['AGENT_KILLS'] ?? 100);
const T = 'agent SIGKILL';

let etcd: EtcdProcess | undefined;
let client: Etcd3 | undefined;
const dirs: string[] = [];

afterAll(async () => {
  await stopAllAgents();
  client?.close();
  await killAllTracked();
  await etcd?.stop();
  for (const d of dirs) await removeDir(d);
});

describe('fault 4: agent killed mid-write', () => {
  it(`SIGKILL at random points, ${KILLS} times: files always complete and valid, then converges`, async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    const dir = tempDir('rr-rel-kill');
    dirs.push(dir);
    const env = {
      IP: RR,
      IP6: RR6,
      ETCD_ENDPOINTS: etcd.endpoint,
      CONFIG_DIR: dir,
      BIRD_SOCKET: join(dir, 'bird.ctl'),
      BIRD6_SOCKET: join(dir, 'bird6.ctl'),
      DEBOUNCE_MS: '0',
      MAX_WAIT_MS: '0',
      LOG_LEVEL: 'info',
      HTTP_LISTEN: 'off',
      // Small files: the kills also land in rotations.
      JOURNAL_MAX_BYTES: String(256 * 1024),
    };
    const kv = client.namespace(PREFIX);
    await kv.put('/global/as_num').value('64512');
    await kv.put(`/rr_v4/${RR}`).value(JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await kv.put(`/rr_v6/${RR6}`).value(JSON.stringify({ ip: RR6, cluster_id: '1.0.0.1' }));
    await kv.put(`/global/peer_v4/${RR}`).value(JSON.stringify({ ip: RR, as_num: '64512' }));
    await kv.put(`/global/peer_v6/${RR6}`).value(JSON.stringify({ ip: RR6, as_num: '64512' }));

    // The stream of changes: nodes come and go, both families, until stopped.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        const n = i % 60;
        const add = Math.floor(i / 60) % 2 === 0;
        if (add) {
          await kv.put(`/host/n${n}/ip_addr_v4`).value(`10.77.${1 + (n >> 4)}.${n + 10}`);
          await kv.put(`/host/n${n}/ip_addr_v6`).value(`fd77::2:${n + 10}`);
        } else {
          await kv.delete().key(`/host/n${n}/ip_addr_v4`);
          await kv.delete().key(`/host/n${n}/ip_addr_v6`);
        }
        writes += 2;
        i++;
        await sleep(5);
      }
    })();

    const deadEtcd = `http://127.0.0.1:${await freePort()}`;
    const render = createRenderer();
    /** This RR as the agent under test plans it (its env: IP and IP6; every other default, CLIENT_IMPORT_LIMIT among them). */
    const agentSelf = selfOf(configFromEnv({ IP: RR, IP6: RR6 }));
    const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
    /** What etcd's own data at `revision` renders, per family (sha256). */
    const etcdRendersAt = async (revision: number): Promise<Record<Family, string>> => {
      const all = await client!.getAll().prefix(`${PREFIX}/`).revision(String(revision)).strings();
      const state = stateOf(Object.entries(all).map(([key, value]) => ({ key, value })));
      const out = {} as Record<Family, string>;
      for (const f of FAMILIES) out[f] = sha256Of(render(derivePlan(state, f, agentSelf)));
      return out;
    };
    let restoredLives = 0;
    let waitedLives = 0;
    const restoreMs: number[] = [];
    const waitReasons = new Map<string, number>();
    const checkMs: number[] = [];
    let stageLeft = 0;
    let filesMissing = 0;
    let lives = 0;
    const rnd = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo));
    try {
      for (let k = 0; k < KILLS; k++) {
        const agent = runAgent(env);
        if (k % 5 === 0) {
          // Some kills anywhere in start-up (before or during the first write).
          await sleep(rnd(50, 2500));
        } else {
          // Most once the agent writes: a random point in its write/check/install/reload cycle.
          await agent.waitForLine((l) => l.msg === 'write ok', 'first write', { timeoutMs: 30_000 });
          await sleep(rnd(0, 700));
        }
        process.kill(agent.pid, 'SIGKILL');
        await agent.stop();
        lives++;
        if (existsSync(join(dir, '.bird.cfg.stage')) || existsSync(join(dir, '.bird6.cfg.stage'))) stageLeft++;
        for (const [family, file] of [['v4', 'bird.cfg'], ['v6', 'bird6.cfg']] as const) {
          const path = join(dir, file);
          if (!existsSync(path)) {
            filesMissing++; // killed before the first install: no file, never a partial one
            continue;
          }
          const text = readFileSync(path, 'utf8');
          expect(grammarViolations(text, family), `${file} after kill ${k + 1}`).toEqual([]);
          const t0 = performance.now();
          const r = await birdParse(family, path);
          checkMs.push(performance.now() - t0);
          expect(r, `${file} after kill ${k + 1}`).toEqual({ ok: true, message: '' });
        }

        // Restart with etcd down: the journal's last installed state, or a wait for etcd; never anything else.
        const files = { v4: join(dir, 'bird.cfg'), v6: join(dir, 'bird6.cfg') };
        const onDisk = existsSync(files.v4) && existsSync(files.v6) ? { v4: sha(files.v4), v6: sha(files.v6) } : undefined;
        const t0 = performance.now();
        const cold = runAgent({ ...env, ETCD_ENDPOINTS: deadEtcd });
        const said = await cold.waitForLine(
          (l) => l.msg === 'started from the journal: BIRD gets the last installed configs until etcd answers' || l.msg === 'journal not used: waiting for etcd' || l.msg === 'no journal yet: waiting for etcd',
          'journal restore or wait',
          { timeoutMs: 30_000 },
        );
        if (said.msg?.startsWith('started')) {
          restoredLives++;
          expect(onDisk, `restored after kill ${k + 1} with a config file missing`).toBeDefined();
          // The restore's own check: the configs it rebuilt are the files on disk ...
          await cold.waitForLine((l) => l.msg === 'reload deferred' && l.family === 'v6', 'the restored bird6.cfg handed to BIRD', { timeoutMs: 30_000 });
          await cold.waitForLine((l) => l.msg === 'reload deferred' && l.family === 'v4', 'the restored bird.cfg handed to BIRD', { timeoutMs: 30_000 });
          restoreMs.push(performance.now() - t0);
          const shas = said['sha256'] as Record<Family, string>;
          for (const f of FAMILIES) expect(onDisk![f].startsWith(shas[f]), `${f} restored after kill ${k + 1}`).toBe(true);
          // ... and what etcd itself held at the journal's revision renders exactly them: a state etcd really had.
          expect(await etcdRendersAt(Number(said['revision'])), `etcd at revision ${String(said['revision'])} (kill ${k + 1})`).toEqual(onDisk);
        } else {
          waitedLives++;
          const reason = String(said['reason'] ?? 'no journal yet').replace(/[0-9a-f]{12}/g, '…').replace(/\d+/g, 'N');
          waitReasons.set(reason, (waitReasons.get(reason) ?? 0) + 1);
        }
        await sleep(rnd(0, 300));
        process.kill(cold.pid, 'SIGKILL');
        await cold.stop();
        expect(cold.find((l) => l.step === 'write' || l.step === 'install'), `the agent with etcd down wrote a config (kill ${k + 1})`).toEqual([]);
        if (onDisk) for (const f of FAMILIES) expect(sha(files[f]), `${f} after the etcd-down life ${k + 1}`).toBe(onDisk[f]);
      }
    } finally {
      writing = false;
      await writer;
    }
    figure(T, 'kills', lives);
    figure(T, 'changes written to etcd during the kills', writes);
    figure(T, 'kills that left a stage file (killed between write and rename)', stageLeft);
    figure(T, 'files absent after a kill (killed before the first install; never a partial file)', filesMissing);
    figure(T, 'config files after a kill that were incomplete or failed bird -p', 0);
    figure(T, 'bird -p on a file after a kill, median', stats(checkMs).median, 'ms');
    figure(T, 'restarts with etcd down that started from the journal (configs on disk = etcd at the journal revision)', restoredLives);
    figure(T, 'restarts with etcd down that waited for etcd', waitedLives);
    for (const [reason, n] of waitReasons) console.log(`[detail] waited for etcd ${n}x: ${reason}`);
    figure(T, 'restart with etcd down to both restored configs handed to BIRD, median/max', `${Math.round(stats(restoreMs).median)}/${Math.round(stats(restoreMs).max)}`, 'ms');

    // Converge: a fresh agent ends with what a fresh render of the same data gives.
    const out = tempDir('rr-rel-kill-ref');
    dirs.push(out);
    const r = await execa(process.execPath, [MAIN, 'render', '--out', out], {
      env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`, ...env, CONFIG_DIR: out },
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const t0 = Date.now();
    const agent = runAgent(env);
    await waitFor(
      () =>
        readFileSync(join(dir, 'bird.cfg'), 'utf8') === readFileSync(join(out, 'bird.cfg'), 'utf8') &&
        readFileSync(join(dir, 'bird6.cfg'), 'utf8') === readFileSync(join(out, 'bird6.cfg'), 'utf8'),
      { what: 'configs converge to a fresh render', timeoutMs: 20_000, intervalMs: 20 },
    );
    figure(T, 'restart to converged config (equals fresh render)', Date.now() - t0, 'ms');
    await sleep(300);
    expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);
    await agent.stop();

    // The journal of all these lives (killed anywhere, rotated) still replays byte for byte.
    const replay = await execa(process.execPath, [MAIN, 'replay', join(dir, 'journal', 'journal.jsonl'), '--json'], { reject: false, timeout: 120_000 });
    const replayed = JSON.parse(String(replay.stdout)) as { runs: string[]; problems: string[]; configs: Array<{ verified: boolean }> };
    expect(replayed.problems).toEqual([]);
    expect(replay.exitCode).toBe(0);
    figure(T, 'journal replayed: runs / generations, every one byte for byte', `${replayed.runs.length} / ${replayed.configs.filter((c) => c.verified).length}`);
  }, 600_000);
});
