/**
 * `routereflector render`: one snapshot of etcd to both config files, checked
 * by BIRD unless --no-check. Exits non-zero with a clear message on failure.
 */
import { firstValueFrom, map, timeout } from 'rxjs';
import { PREFIX, type AgentConfig } from './core/config.js';
import { FAMILIES } from './core/events.js';
import { derivePlan } from './core/plan.js';
import { createRenderer } from './core/render.js';
import { applyBatch, createState } from './core/state.js';
import { birdCheck } from './effects/bird-control.js';
import { writeConfig, writeStage, discardStage } from './effects/config-files.js';
import { createEtcdClient, describeEtcdError } from './effects/etcd-client.js';
import { etcdSource } from './effects/etcd-source.js';
import type { Log } from './effects/logger.js';

export class CommandError extends Error {}

export async function renderOnce(cfg: AgentConfig, opts: { out?: string; check: boolean }, log: Log): Promise<void> {
  const client = createEtcdClient(cfg.etcd);
  const state = createState();
  let lastError = '';
  try {
    const folded = await firstValueFrom(
      etcdSource(client, {
        prefix: PREFIX,
        onStatus: (s) => {
          if ('reason' in s && typeof s.reason === 'string') lastError = s.reason;
        },
      }).pipe(
        map((batch) => applyBatch(state, PREFIX, batch)),
        timeout({ first: 10_000 }),
      ),
    ).catch((err: unknown) => {
      throw new CommandError(`cannot read etcd at ${cfg.etcd.endpoints.join(',')}: ${lastError || describeEtcdError(err)}`);
    });
    for (const r of folded.rejected) log.warn('invalid entry skipped', { key: r.key, reason: r.reason, revision: folded.revision });
  } finally {
    await client.close();
  }
  const render = createRenderer();
  const dir = opts.out ?? cfg.configDir;
  const self = { ip: cfg.ip, ...(cfg.ip6 !== undefined ? { ip6: cfg.ip6 } : {}) };
  for (const family of FAMILIES) {
    const plan = derivePlan(state, family, self);
    const text = render(plan);
    if (opts.check) {
      const stage = await writeStage(dir, family, text);
      const res = await birdCheck({ bird: family === 'v4' ? cfg.birdBin : cfg.bird6Bin, file: stage, timeoutMs: 10_000 });
      if (!res.ok) {
        await discardStage(dir, family);
        throw new CommandError(`BIRD rejected the ${family} config: ${res.message}`);
      }
    }
    const path = await writeConfig(dir, family, text);
    log.info('config written', { family, path, revision: state.revision, sessions: plan.sessions.length, checked: opts.check });
  }
}
