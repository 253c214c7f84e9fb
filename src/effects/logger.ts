/**
 * The operator's interface: one structured line per decision. JSON (one
 * object a line: time, level, msg, then the fields) or tslog's pretty format.
 */
import { Logger } from 'tslog';
import type { LogLevel } from '../core/config.js';
import type { LogEntry } from '../core/log-lines.js';

export type Fields = Record<string, unknown>;

export interface Log {
  trace(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

const LEVEL_ID: Record<LogLevel, number> = { silly: 0, trace: 1, debug: 2, info: 3, warn: 4, error: 5, fatal: 6 };

interface Meta {
  _meta?: { date?: Date | string; logLevelName?: string };
  [k: string]: unknown;
}

function flatten(obj: Meta): string {
  const { _meta, ...rest } = obj;
  const msg = rest['0'];
  const fields = rest['1'];
  const line: Record<string, unknown> = {
    time: _meta?.date instanceof Date ? _meta.date.toISOString() : _meta?.date,
    level: _meta?.logLevelName?.toLowerCase(),
    msg,
    ...(fields !== null && typeof fields === 'object' ? fields : {}),
  };
  return JSON.stringify(line);
}

export function createLog(opts: { level: LogLevel; format: 'json' | 'pretty'; write?: (line: string) => void }): Log {
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const logger = new Logger<unknown>({
    type: opts.format,
    minLevel: LEVEL_ID[opts.level],
    hideLogPositionForProduction: true,
    maskValuesOfKeys: ['password', 'etcd_password'],
    maskValuesOfKeysCaseInsensitive: true,
    overwrite: { transportJSON: (o: unknown) => write(flatten(o as Meta)) },
  });
  const at =
    (fn: (...args: unknown[]) => unknown) =>
    (msg: string, fields?: Fields): void => {
      if (fields) fn.call(logger, msg, fields);
      else fn.call(logger, msg);
    };
  return {
    trace: at(logger.trace),
    debug: at(logger.debug),
    info: at(logger.info),
    warn: at(logger.warn),
    error: at(logger.error),
  };
}

/** The logger driver: writes each line of the agent's log sink. */
export const writeEntry =
  (log: Log) =>
  (e: LogEntry): void => {
    if (e.fields !== undefined) log[e.level](e.msg, e.fields);
    else log[e.level](e.msg);
  };
