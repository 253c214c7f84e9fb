/**
 * What every command shares: argument parsing that turns mistakes into a
 * UsageError (exit 2), tables for humans, one etcd snapshot for commands that
 * read the keyspace once.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { PREFIX, type EtcdConfig } from '../core/config.js';
import { foldBatch, createState, type FoldResult } from '../core/state.js';

// etcd3, rxjs and the etcd drivers are loaded by the functions that use them (import()),
// so that `--help` and the commands that never read etcd do not pay for them (issue 16).

/** Bad usage: exit 2. */
export class UsageError extends Error {}
/** A runtime failure with a clear message: exit 1. */
export class CommandFailed extends Error {}

export type Env = Readonly<Record<string, string | undefined>>;

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Printed for `routereflector COMMAND --help` (src/main.ts). */
  readonly usage: string;
  /** Resolves to the exit code, or 'running' for the long-running agent. */
  run(args: string[], env: Env): Promise<number | 'running'>;
}

/** `--help` or `-h` among a command's arguments. */
export const wantsHelp = (args: readonly string[]): boolean => args.includes('--help') || args.includes('-h');

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export async function withEtcd<T>(cfg: EtcdConfig, fn: (client: Etcd3) => Promise<T>): Promise<T> {
  const { createEtcdClient, describeEtcdError } = await import('../effects/etcd-client.js');
  const client = createEtcdClient(cfg);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof UsageError || err instanceof CommandFailed) throw err;
    throw new CommandFailed(`etcd at ${cfg.endpoints.join(',')}: ${describeEtcdError(err)}`);
  } finally {
    client.close();
  }
}

/**
 * The keyspace folded from one snapshot, exactly as the agent folds its first
 * batch: the state and the entries skipped as invalid.
 */
export async function readSnapshot(client: Etcd3, endpoints: readonly string[], nodeName?: string): Promise<FoldResult> {
  const [{ firstValueFrom, map, timeout }, { etcdSource }, { describeEtcdError }] = await Promise.all([
    import('rxjs'),
    import('../effects/etcd-source.js'),
    import('../effects/etcd-client.js'),
  ]);
  const state = createState(nodeName);
  let lastError = '';
  const source = etcdSource(() => client, { prefix: PREFIX });
  const status = source.status$.subscribe((s) => {
    if (s.kind === 'disconnected') lastError = s.reason;
  });
  return firstValueFrom(
    source.batches$.pipe(
      map((batch) => foldBatch(state, PREFIX, batch)),
      timeout({ first: 10_000 }),
    ),
  )
    .catch((err: unknown) => {
      throw new CommandFailed(`cannot read etcd at ${endpoints.join(',')}: ${lastError || describeEtcdError(err)}`);
    })
    .finally(() => status.unsubscribe());
}
