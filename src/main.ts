#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The `routereflector` command: a thin dispatcher to the command modules in
 * src/commands/. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or
 * environment (and 3 for `explain`: the address is not in the plan).
 */
import module from 'node:module';
import type { Command } from './commands/common.js';

// V8's compile cache (Node >= 22.1) for every module loaded after this line, hence the
// import()s below; Node 20 has no such function and nothing happens (issue 16).
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const [{ ConfigError }, { CommandFailed, UsageError, wantsHelp }, { explainCommand }, { renderCommand }, { replayCommand }, { rrCommand }, { runCommand }, { statusCommand }] =
  await Promise.all([
    import('./core/config.js'),
    import('./commands/common.js'),
    import('./commands/explain.js'),
    import('./commands/render.js'),
    import('./commands/replay.js'),
    import('./commands/rr.js'),
    import('./commands/run.js'),
    import('./commands/status.js'),
  ]);

const COMMANDS: readonly Command[] = [runCommand, renderCommand, statusCommand, explainCommand, rrCommand, replayCommand];

const USAGE = `usage: routereflector [command] [options]

commands:
${COMMANDS.map((c) => {
  const [synopsis = '', what = ''] = c.summary.split(': ');
  return `  ${synopsis.padEnd(36)}${what}`;
}).join('\n')}
  ${'help'.padEnd(36)}this text

\`routereflector COMMAND --help\` describes a command. Exit codes: 0 ok,
1 runtime failure, 2 bad usage or environment. See the README for the environment.`;

function fail(code: number, message: string): never {
  process.stderr.write(`routereflector: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [name = 'run', ...rest] = argv[0]?.startsWith('-') && argv[0] !== '--help' && argv[0] !== '-h' ? ['run', ...argv] : argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) fail(2, `unknown command ${JSON.stringify(name)}\n${USAGE}`);
  if (wantsHelp(rest)) {
    process.stdout.write(command.usage + '\n');
    process.exit(0);
  }
  const code = await command.run(rest, process.env);
  // One-shot commands exit at once: do not wait for the gRPC channel's lingering timers. But
  // only once stdout has drained: to a pipe the write is asynchronous, and a big `--json`
  // answer (replay of a long journal) was cut off by an exit right after it.
  if (code !== 'running') process.stdout.write('', () => process.exit(code));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError) fail(2, err.message);
  if (err instanceof CommandFailed) fail(1, err.message);
  fail(1, err instanceof Error ? err.message : String(err));
});
