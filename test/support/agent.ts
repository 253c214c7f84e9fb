/**
 * The built agent (`node dist/app/main.js`, the bundle `npm run build` makes) as a child process of a test,
 * with its JSON log lines collected for assertions.
 */
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { waitFor } from './processes.js';

export const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'app', 'main.js');

export interface LogLine {
  time?: string;
  level?: string;
  msg?: string;
  [k: string]: unknown;
}

export interface AgentProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly stderr: () => string;
  /** Lines logged from index `from` on that match. */
  find(match: (l: LogLine) => boolean, from?: number): LogLine[];
  waitForLine(match: (l: LogLine) => boolean, what: string, opts?: { from?: number; timeoutMs?: number }): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<AgentProcess>();

export function runAgent(env: Record<string, string>, args: string[] = ['run']): AgentProcess {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`, LOG_LEVEL: 'debug', HTTP_LISTEN: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('agent did not start');
  const lines: LogLine[] = [];
  let partial = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      if (p.trim() === '') continue;
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: p, unparsed: true });
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const agent: AgentProcess = {
    pid: child.pid,
    child,
    lines,
    stderr: () => err,
    find: (match, from = 0) => lines.slice(from).filter(match),
    waitForLine: (match, what, opts = {}) =>
      waitFor(() => lines.slice(opts.from ?? 0).find(match), { what: `agent log: ${what}`, timeoutMs: opts.timeoutMs ?? 15_000 }),
    async stop(signal = 'SIGTERM') {
      running.delete(agent);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  running.add(agent);
  return agent;
}

export async function stopAllAgents(): Promise<void> {
  await Promise.all([...running].map((a) => a.stop()));
}

/** `routereflector render --out DIR` with `env` (CONFIG_DIR=DIR): what a fresh agent would write, the reference a live one is compared with. */
export async function freshRender(env: Record<string, string>, out: string): Promise<{ v4: string; v6: string }> {
  const r = await execa(process.execPath, [MAIN, 'render', '--out', out], {
    env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`, ...env, CONFIG_DIR: out },
    reject: false,
    timeout: 30_000,
  });
  if (r.exitCode !== 0) throw new Error(`render failed: ${String(r.stderr)}`);
  return { v4: readFileSync(join(out, 'bird.cfg'), 'utf8'), v6: readFileSync(join(out, 'bird6.cfg'), 'utf8') };
}
