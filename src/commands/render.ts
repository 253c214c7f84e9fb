/**
 * `routereflector render`: one snapshot of etcd to both config files, checked
 * by BIRD unless --no-check, then exit. Exits non-zero with a clear message on
 * failure.
 */
import { withPasswordFiles } from '../effects/password-files.js';
import { configFromEnv, type AgentConfig } from '../core/config.js';
import { FAMILIES } from '../core/events.js';
import { derivePlan, selfOf } from '../core/plan.js';
import type { State } from '../core/state.js';
import type { Log } from '../effects/logger.js';
import { CommandFailed, parse, readSnapshot, type Command } from './common.js';

const USAGE = `usage: routereflector render [--out DIR] [--no-check]

Read one etcd snapshot, write bird.cfg and bird6.cfg (to CONFIG_DIR or DIR),
in the dialect of BIRD_BIN / BIRD6_BIN (their --version), each checked with
bird -p unless --no-check, then exit.

exit codes: 0 written, 1 etcd failure or BIRD rejected a config, 2 bad usage or environment`;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render [--out DIR] [--no-check]: one snapshot to both configs, then exit',
  usage: USAGE,
  async run(args, env) {
    const { values } = parse(args, { out: { type: 'string' }, 'no-check': { type: 'boolean', default: false } });
    const cfg = withPasswordFiles(configFromEnv(env));
    const { createLog } = await import('../effects/logger.js');
    const log = createLog({ level: cfg.logLevel, format: cfg.logFormat });
    await renderOnce(cfg, { ...(values.out !== undefined ? { out: values.out } : {}), check: !values['no-check'] }, log);
    return 0;
  },
};

/** Both config files from one etcd snapshot; throws CommandFailed (exit 1) when etcd cannot be read or BIRD rejects a file. */
export async function renderOnce(cfg: AgentConfig, opts: { out?: string; check: boolean }, log: Log): Promise<void> {
  // The drivers and their libraries (etcd3, execa, nunjucks) are loaded here, not for `--help` (issue 16).
  const [{ detectBirds }, { installSteps }, { createEtcdClient }, { loadRenderer }] = await Promise.all([
    import('../effects/bird-check.js'),
    import('../effects/apply-config.js'),
    import('../effects/etcd-client.js'),
    import('../effects/templates.js'),
  ]);
  const client = createEtcdClient(cfg.etcd);
  let state: State;
  try {
    const folded = await readSnapshot(client, cfg.etcd.endpoints, cfg.nodeName);
    for (const r of folded.rejected) log.warn('invalid entry skipped', { key: r.key, reason: r.reason, revision: folded.revision });
    state = folded.state;
  } finally {
    await client.close();
  }
  const birds = await detectBirds(cfg);
  const render = loadRenderer({ v4: birds.v4.dialect, v6: birds.v6.dialect });
  const dir = opts.out ?? cfg.configDir;
  const self = selfOf(cfg);
  for (const family of FAMILIES) {
    const plan = derivePlan(state, family, self);
    let path = '';
    for await (const s of installSteps({ dir, family, timeoutMs: 10_000, ...(opts.check ? { checkBin: birds[family].bin } : {}) }, render(plan))) {
      if (s.step === 'check' && !s.ok) throw new CommandFailed(`BIRD rejected the ${family} config: ${s.message}`);
      if (!s.ok) throw new CommandFailed(`${s.step} of the ${family} config in ${dir} failed: ${s.message}`);
      if (s.step === 'install') path = s.message;
    }
    log.info('config written', { family, path, revision: state.revision, sessions: plan.sessions.length, checked: opts.check, bird: birds[family].version, dialect: birds[family].dialect });
  }
}
