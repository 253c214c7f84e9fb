/**
 * Self-registration (RR_CLUSTER_ID): at start, write this RR's own rr_v4
 * (and rr_v6) entry if etcd has none for its address. Never overwrites an
 * entry (an operator's `routereflector rr add` wins, and a restart changes
 * nothing), never deletes one (a rolling restart must not churn the mesh:
 * `routereflector rr remove` decommissions). The create is one transaction
 * on "the key does not exist yet", so it cannot clobber a concurrent write.
 *
 * Completes once every entry is decided; an etcd failure is retried with
 * backoff (one log line each), a refusal by etcd (permission) is logged at
 * error level and given up: the agent runs on, unregistered.
 */
import type { Etcd3 } from 'etcd3';
import { asyncScheduler, catchError, concat, concatMap, defer, EMPTY, from, throwError, type Observable, type SchedulerLike } from 'rxjs';
import type { Backoff } from '../core/backoff.js';
import { decideRegistration, keysFor, rrPrefix, type Registration } from '../core/registration.js';
import { describeEtcdError, type EtcdClientRef } from './etcd-client.js';
import type { EtcdSource } from './etcd-source.js';
import { retryBackoff } from '../streams/retry-backoff.js';
import type { Log } from './logger.js';

export interface SelfRegistrationOptions {
  readonly retry?: Backoff;
  readonly scheduler?: SchedulerLike;
}

async function registerOne(client: Etcd3, reg: Registration, log: Log): Promise<void> {
  const held = await client.getAll().prefix(rrPrefix(reg.family)).strings();
  const mine = Object.fromEntries(keysFor(reg.family, reg.address, Object.keys(held)).map((k) => [k, held[k] ?? '']));
  const d = decideRegistration(reg, mine);
  const base = { family: reg.family, ip: reg.address, clusterId: reg.clusterId };
  if (d.action === 'keep') {
    if (d.matches) log.info('self-registration: registered already, left as it is', { ...base, key: d.key });
    else log.warn('self-registration: registered with another cluster id, left as it is (routereflector rr add changes it)', { ...base, key: d.key, registeredClusterId: d.clusterId || null });
    return;
  }
  if (d.action === 'invalid') {
    log.error('self-registration: an invalid entry holds this address, left as it is', { ...base, key: d.key, reason: d.reason });
    return;
  }
  const r = await client.if(reg.key, 'Create', '==', 0).then(client.put(reg.key).value(reg.value)).commit();
  if (r.succeeded) log.info('self-registration: registered', { ...base, key: reg.key, value: reg.value, revision: Number(r.header.revision) });
  else log.info('self-registration: registered meanwhile by someone else, left as it is', { ...base, key: reg.key });
}

const refused = (err: unknown): boolean => err instanceof Error && /PermissionDenied|AuthenticationFailed|InvalidAuthToken/.test(err.constructor.name);

/** Decide and write each registration in turn; completes when all are done or given up. */
export function selfRegistration(client: EtcdClientRef, regs: readonly Registration[], log: Log, opts: SelfRegistrationOptions = {}): Observable<never> {
  const backoff: Backoff = opts.retry ?? { initialMs: 500, maxMs: 5_000 };
  return from(regs).pipe(
    concatMap((reg) => {
      const base = { family: reg.family, ip: reg.address };
      return defer(() => registerOne(client(), reg, log)).pipe(
        // A refusal (permission) is final: logged and given up; any other etcd failure is retried.
        catchError((err: unknown) => {
          if (!refused(err)) return throwError(() => err);
          log.error('self-registration: etcd refused, not registered', { ...base, key: reg.key, error: describeEtcdError(err) });
          return EMPTY;
        }),
        retryBackoff(backoff, (err, ms) => log.warn('self-registration: etcd failed, retrying', { ...base, error: describeEtcdError(err), retryInMs: ms }), opts.scheduler ?? asyncScheduler),
        concatMap(() => EMPTY),
      );
    }),
  );
}

/** The etcd driver whose reads start once `registration$` is done (this RR's own entry is then in the first snapshot). */
export function registeredFirst(registration$: Observable<never>, etcd: EtcdSource): EtcdSource {
  return { batches$: concat(registration$, etcd.batches$), status$: etcd.status$ };
}
