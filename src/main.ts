#!/usr/bin/env node
/**
 * The `routereflector` command: parses arguments and the environment, then
 * hands over to the command's module. Exit codes: 0 ok, 1 runtime failure,
 * 2 bad usage or environment.
 */
import { parseArgs } from 'node:util';
import { ConfigError, configFromEnv } from './core/config.js';
import { createLog } from './effects/logger.js';
import { renderOnce, CommandError } from './render-command.js';
import { startAgent } from './run.js';

const USAGE = `usage: routereflector [command] [options]

commands:
  run                       the agent (default): keep bird.cfg and bird6.cfg true to etcd
  render [--out DIR] [--no-check]
                            read one etcd snapshot, write both configs (checked with bird -p), exit
  help                      this text

environment: IP (required), IP6, ETCD_ENDPOINTS | ETCD_AUTHORITY + ETCD_SCHEME,
ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, CONFIG_DIR, BIRD_SOCKET,
BIRD6_SOCKET, LOG_LEVEL, LOG_FORMAT, DEBOUNCE_MS, MAX_WAIT_MS (see README)`;

function fail(code: number, message: string): never {
  process.stderr.write(`routereflector: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [command = 'run', ...rest] = argv[0]?.startsWith('-') ? ['run', ...argv] : argv;
  if (command === 'help' || rest.includes('--help') || rest.includes('-h') || command === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  let cfg;
  try {
    cfg = configFromEnv(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(2, err.message);
    throw err;
  }
  const log = createLog({ level: cfg.logLevel, format: cfg.logFormat });
  switch (command) {
    case 'run': {
      parseArgs({ args: rest, options: {}, strict: true });
      const agent = startAgent(cfg, log);
      const stop = (signal: string): void => {
        log.info('stopping', { signal });
        agent.stop().then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      return;
    }
    case 'render': {
      const { values } = parseArgs({
        args: rest,
        options: { out: { type: 'string' }, 'no-check': { type: 'boolean', default: false } },
        strict: true,
      });
      await renderOnce(cfg, { ...(values.out !== undefined ? { out: values.out } : {}), check: !values['no-check'] }, log);
      // One-shot: do not wait for the gRPC channel's lingering timers.
      process.exit(0);
    }
    default:
      fail(2, `unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(2, err.message);
  if (err instanceof CommandError) fail(1, err.message);
  if (err instanceof Error && 'code' in err && err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(2, err.message);
  fail(1, err instanceof Error ? err.message : String(err));
});

