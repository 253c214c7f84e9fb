/** `routereflector render`: one etcd snapshot to both configs, then exit. */
import { configFromEnv } from '../core/config.js';
import { createLog } from '../effects/logger.js';
import { renderOnce } from '../render-command.js';
import { parse, wantsHelp, type Command } from './common.js';

const USAGE = `usage: routereflector render [--out DIR] [--no-check]

Read one etcd snapshot, write bird.cfg and bird6.cfg (to CONFIG_DIR or DIR),
each checked with bird -p unless --no-check, then exit.

exit codes: 0 written, 1 etcd failure or BIRD rejected a config, 2 bad usage or environment`;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render [--out DIR] [--no-check]: one snapshot to both configs, then exit',
  usage: USAGE,
  async run(args, env) {
    if (wantsHelp(args)) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const { values } = parse(args, { out: { type: 'string' }, 'no-check': { type: 'boolean', default: false } });
    const cfg = configFromEnv(env);
    const log = createLog({ level: cfg.logLevel, format: cfg.logFormat });
    await renderOnce(cfg, { ...(values.out !== undefined ? { out: values.out } : {}), check: !values['no-check'] }, log);
    return 0;
  },
};
