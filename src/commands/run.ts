/** `routereflector run`: the agent. */
import { withPasswordFiles } from '../effects/password-files.js';
import { configFromEnv, PREFIX } from '../core/config.js';
import { selfOf } from '../core/plan.js';
import { FAMILIES } from '../core/events.js';
import { passwordFilesSummary } from '../core/password-files.js';
import { parse, type Command } from './common.js';

/** The agent's drivers and their libraries, loaded only when it runs (not for `--help`: issue 16). */
const startUp = () =>
  Promise.all([import('../effects/bird-check.js'), import('../effects/logger.js'), import('../effects/templates.js'), import('../effects/journal.js')]).then(
    ([{ detectBirds }, { createLog }, { loadRenderer }, { loadJournal }]) => ({ detectBirds, createLog, loadRenderer, loadJournal }),
  );

const USAGE = `usage: routereflector [run]

The agent (default): keep bird.cfg and bird6.cfg true to etcd, reload BIRD and
BIRD6 on change, serve /livez, /readyz and /metrics on HTTP_LISTEN. Exits 0 on
SIGTERM/SIGINT.

environment: IP (required), IP6, HOST_IPS, RR_CLUSTER_ID, ETCD_ENDPOINTS | ETCD_AUTHORITY + ETCD_SCHEME,
ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, CONFIG_DIR, BIRD_SOCKET,
BIRD6_SOCKET, BIRD_BIN, BIRD6_BIN, LOG_LEVEL, LOG_FORMAT, DEBOUNCE_MS, MAX_WAIT_MS, HTTP_LISTEN,
JOURNAL_FILE, JOURNAL_MAX_BYTES, JOURNAL_FILES, SESSION_POLL_MS, NODENAME, CLIENT_IMPORT_LIMIT,
BGP_PASSWORD_DIR (see README)`;

export const runCommand: Command = {
  name: 'run',
  summary: 'run: the agent (default)',
  usage: USAGE,
  async run(args, env) {
    parse(args, {});
    const cfg = withPasswordFiles(configFromEnv(env));
    const { detectBirds, createLog, loadRenderer, loadJournal } = await startUp();
    const log = createLog({ level: cfg.logLevel, format: cfg.logFormat });
    for (const name of ['BIRDC_BIN', 'BIRDC6_BIN']) {
      const value = env[name];
      if (value !== undefined) log.warn(`${name} is ignored: BIRD is reloaded on its control socket, without birdc`, { [name]: value });
    }
    // Start-up steps: which BIRD each family runs (its --version: exit 2 if unsupported), and its templates.
    const birds = await detectBirds(cfg);
    for (const family of FAMILIES) log.info('BIRD', { family, ...birds[family] });
    if (cfg.passwords !== undefined) log.info('password files read', passwordFilesSummary(cfg.passwords));
    const render = loadRenderer({ v4: birds.v4.dialect, v6: birds.v6.dialect });
    // The restart path, before the drivers' libraries (etcd3, gRPC, prom-client) are loaded: the fold of
    // the journal runs in a smaller heap, and none of it waits for them. Undefined: wait for etcd.
    const restored = cfg.journalFile === undefined ? undefined
      : loadJournal({ file: cfg.journalFile, keep: cfg.journalFiles, configDir: cfg.configDir, self: selfOf(cfg), prefix: PREFIX, render, log });
    const { startAgent } = await import('../agent-main.js');
    const agent = startAgent(cfg, log, birds, render, restored);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      agent.stop().then(
        () => process.exit(0),
        () => process.exit(0),
      );
    };
    // `on`, not `once`: execa's signal-exit re-raises a signal that no other listener
    // handles any more, which would kill the agent before it has stopped.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    return 'running';
  },
};
