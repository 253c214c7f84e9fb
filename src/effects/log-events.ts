/**
 * Log lines for each kind of event: one line per etcd batch, per rejected
 * value, per plan change, per health transition and per effect step.
 */
import type { HealthEvent, OutcomeEvent } from '../core/events.js';
import { diffSummary } from '../core/plan-diff.js';
import type { FoldResult } from '../core/state.js';
import type { FamilyConfig } from '../streams/family-config.js';
import type { EtcdStatus } from './etcd-source.js';
import type { Log } from './logger.js';

export const logBatch =
  (log: Log) =>
  (r: FoldResult): void => {
    log.info('etcd batch', { revision: r.revision, events: r.events, rejected: r.rejected.length });
    for (const x of r.rejected) log.warn('invalid entry skipped', { key: x.key, reason: x.reason, revision: r.revision });
  };

export const logEtcdStatus =
  (log: Log) =>
  (s: EtcdStatus): void => {
    const { kind, ...fields } = s as { kind: string } & Record<string, unknown>;
    if (kind === 'connected' || kind === 'resynced') log.info(`etcd ${kind}`, fields);
    else log.warn(`etcd ${kind}`, fields);
  };

export const logHealth =
  (log: Log) =>
  (h: HealthEvent): void => {
    const fields = { family: h.family, instance: h.instance, reason: h.reason };
    if (h.up) log.info('daemon up', fields);
    else log.warn('daemon down', fields);
  };

export const logOutcome =
  (log: Log) =>
  (o: OutcomeEvent): void => {
    const fields = { family: o.family, generation: o.generation, step: o.step, ok: o.ok, durationMs: o.durationMs, message: o.message };
    if (o.ok) log.info(`${o.step} ok`, fields);
    else if (o.deferred) log.warn(`${o.step} deferred`, fields);
    else log.error(`${o.step} failed`, { ...fields, ...(o.retryable ? { retrying: true } : {}) });
  };

const MAX_NAMES = 50;
const names = (list: readonly string[]): readonly string[] =>
  list.length <= MAX_NAMES ? list : [...list.slice(0, MAX_NAMES), `... ${list.length - MAX_NAMES} more`];

/** One line per new config: the revision and what it does to each protocol. */
export const logPlanChange =
  (log: Log) =>
  (c: FamilyConfig): void => {
    const prev = c.previous;
    const d = c.diff;
    const notesChanged = (prev?.notes ?? []).join('\n') !== c.plan.notes.join('\n');
    if (c.plan.asDefaulted && (prev === undefined || !prev.asDefaulted) && c.plan.member) {
      log.warn('/global/as_num absent or invalid: mesh uses the default AS', { family: c.family, as: c.plan.meshAs });
    }
    log.info(`plan ${c.family} sessions ${diffSummary(d)}`, {
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
    });
  };
