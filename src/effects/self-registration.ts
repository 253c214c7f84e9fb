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
import { defer, from, concat, concatMap, retry, timer, type Observable, EMPTY, catchError } from 'rxjs';
import { decideRegistration, keysFor, rrPrefix, type Registration } from '../core/registration.js';
import { describeEtcdError } from './etcd-client.js';
import type { EtcdSource } from './etcd-source.js';
import type { Log } from './logger.js';

export interface SelfRegistrationOptions {
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
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
export function selfRegistration(client: Etcd3, regs: readonly Registration[], log: Log, opts: SelfRegistrationOptions = {}): Observable<never> {
  const initialMs = opts.retry?.initialMs ?? 500;
  const maxMs = opts.retry?.maxMs ?? 5_000;
  return from(regs).pipe(
    concatMap((reg) =>
      defer(() => registerOne(client, reg, log)).pipe(
        retry({
          delay: (err: unknown, attempt) => {
            if (refused(err)) throw err;
            const ms = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 20));
            log.warn('self-registration: etcd failed, retrying', { family: reg.family, ip: reg.address, error: describeEtcdError(err), retryInMs: ms });
            return timer(ms);
          },
        }),
        catchError((err: unknown) => {
          log.error('self-registration: etcd refused, not registered', { family: reg.family, ip: reg.address, key: reg.key, error: describeEtcdError(err) });
          return EMPTY;
        }),
        concatMap(() => EMPTY),
      ),
    ),
  );
}

/** The etcd driver whose reads start once `registration$` is done (this RR's own entry is then in the first snapshot). */
export function registeredFirst(registration$: Observable<never>, etcd: EtcdSource): EtcdSource {
  return { batches$: concat(registration$, etcd.batches$), status$: etcd.status$ };
}
