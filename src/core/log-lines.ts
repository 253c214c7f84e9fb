/**
 * The agent's log lines, as data: one line per etcd batch, per rejected
 * value, per etcd status, per plan change, per health transition, per
 * effect step and per readiness transition. The logger driver writes them.
 */
import type { EtcdStatus, FamilyConfig, HealthEvent, OutcomeEvent } from './events.js';
import { diffSummary } from './plan-diff.js';
import type { OpsStatus } from './readiness.js';
import type { FoldResult } from './state.js';

/** One structured log line: the logger prints `msg` and the fields (tslog, JSON). */
export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

export const batchLines = (r: FoldResult): LogEntry[] => [
  { level: 'info', msg: 'etcd batch', fields: { revision: r.revision, events: r.eventCount, rejected: r.rejected.length } },
  ...r.rejected.map((x): LogEntry => ({ level: 'warn', msg: 'invalid entry skipped', fields: { key: x.key, reason: x.reason, revision: r.revision } })),
  ...(r.ignored ?? []).map((x): LogEntry => ({ level: 'debug', msg: 'peer value fields ignored', fields: { key: x.key, fields: x.fields, revision: r.revision } })),
];

export const etcdStatusLine = (s: EtcdStatus): LogEntry => {
  const { kind, ...fields } = s as { kind: string } & Record<string, unknown>;
  return { level: kind === 'connected' || kind === 'resynced' ? 'info' : 'warn', msg: `etcd ${kind}`, fields };
};

export const healthLine = (h: HealthEvent): LogEntry => {
  const fields = { family: h.family, instance: h.instance, reason: h.reason };
  return h.up ? { level: 'info', msg: 'daemon up', fields } : { level: 'warn', msg: 'daemon down', fields };
};

export const outcomeLine = (o: OutcomeEvent): LogEntry => {
  const fields = {
    family: o.family,
    generation: o.generation,
    step: o.step,
    ok: o.ok,
    durationMs: o.durationMs,
    message: o.message,
    ...(o.checkedBy !== undefined ? { checkedBy: o.checkedBy } : {}),
  };
  if (o.ok) return { level: 'info', msg: `${o.step} ok`, fields };
  if (o.deferred) return { level: 'warn', msg: `${o.step} deferred`, fields };
  return { level: 'error', msg: `${o.step} failed`, fields: { ...fields, ...(o.retryable ? { retrying: true } : {}) } };
};

const MAX_NAMES = 50;
const names = (list: readonly string[]): readonly string[] =>
  list.length <= MAX_NAMES ? list : [...list.slice(0, MAX_NAMES), `... ${list.length - MAX_NAMES} more`];

/** One line per new config: the revision and what it does to each protocol (and a warning when the mesh AS is defaulted). */
export const planLines = (c: FamilyConfig): LogEntry[] => {
  const prev = c.previous;
  const d = c.diff;
  const notesChanged = (prev?.notes ?? []).join('\n') !== c.plan.notes.join('\n');
  const lines: LogEntry[] = [];
  if (c.plan.asDefaulted && (prev === undefined || !prev.asDefaulted) && c.plan.member) {
    lines.push({ level: 'warn', msg: '/global/as_num absent or invalid: mesh uses the default AS', fields: { family: c.family, as: c.plan.meshAs } });
  }
  lines.push({
    level: 'info',
    msg: `plan ${c.family} sessions ${diffSummary(d)}`,
    fields: {
      family: c.family,
      revision: c.revision,
      generation: c.generation,
      sha256: c.sha256,
      sessions: c.plan.sessions.length,
      added: names(d.added),
      removed: names(d.removed),
      changed: names(d.changed),
      ...(d.templateChanged ? { templateChanged: true } : {}),
      ...(notesChanged ? { conflicts: c.plan.notes } : {}),
    },
  });
  return lines;
};

/** A change of /readyz. */
export const readinessLine = (s: OpsStatus): LogEntry =>
  s.ready
    ? { level: 'info', msg: 'ready: BIRD and BIRD6 run the current plan', fields: { revision: s.revision } }
    : { level: 'warn', msg: 'not ready', fields: { reason: s.readyReason } };
