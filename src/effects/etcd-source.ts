/**
 * The etcd source (docs/architecture.md, step 1): everything under a prefix as one `resync`
 * batch at revision R, then every change from R+1 on, one batch per watch
 * response, never lost and never delivered twice, across disconnects. When
 * the revision to resume from was compacted, etcd's revision went
 * backwards, or another cluster answers (the cluster id of the response
 * header), the prefix is read again and a new `resync` batch is emitted.
 * Given a state already held (`resume`, from the journal), it starts with
 * the watch from that state's revision + 1, under the same rules.
 *
 * Notes on etcd3 1.1.2 that shape this code:
 * - Its Watcher reconnects by itself, but sets the resume revision to
 *   `header.revision + 1` of every response, including the `created`
 *   response, whose header is the store's *current* revision, not the last
 *   event delivered. A stream that breaks after `created` and before the
 *   catch-up events would silently skip them. So this source keeps its own
 *   "last revision delivered" and rewrites `start_revision` on every
 *   `connecting` event (the request object emitted is the one sent).
 * - A watch canceled by etcd (compaction) surfaces only as an `error` event
 *   "Watcher canceled: " with an empty reason; `compact_revision` is
 *   dropped. Compaction is confirmed with a range read at the resume revision.
 * - The full read is paged (`pageSize` keys per range request, all at the
 *   first page's revision): at 100,000 nodes one response of 300,000 keys
 *   held ~250 MiB of decoded protobuf objects at once. Pages are large
 *   because etcd 3.4 counts the whole remaining range for every limited
 *   request: 50,000-key pages cost ~0.3 s more than one read at 300,000
 *   keys, 10,000-key pages ~1.5 s more (measured on the bench machine).
 * - The builder sets `progress_notify`: responses without events are
 *   progress notifications and are not emitted.
 */
import { asyncScheduler, defer, Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { EtcdBatch, EtcdEvent, EtcdStatus, KeyValue, ResyncCause } from '../core/events.js';
import { backoffDelay, type Backoff } from '../core/backoff.js';
import { retryBackoff } from '../streams/retry-backoff.js';
import { describeEtcdError, etcd3, type EtcdClientRef } from './etcd-client.js';

export interface EtcdSourceOptions {
  /** e.g. PREFIX ('/calico/bgp/v1'); keys under `prefix + '/'` are read and watched. */
  readonly prefix: string;
  /** Retry delays for failed reads: `initialMs` doubling to `maxMs` (default 500 -> 5000). */
  readonly retry?: Backoff;
  /** Where the retry delays run (default asyncScheduler). */
  readonly scheduler?: SchedulerLike;
  /** Keys per range request of a full read (default 50,000). */
  readonly pageSize?: number;
  /**
   * Resume from a state already held (the journal's): watch from `revision` + 1
   * instead of reading everything. A full read only when that revision was
   * compacted, etcd's revision is behind it, or the cluster id in etcd's
   * response header is not `clusterId` (or `clusterId` is unknown).
   */
  readonly resume?: { readonly revision: number; readonly clusterId?: string };
}

/**
 * Everything under `prefix` at one revision, read in pages: the first page
 * fixes the revision, the others are read at it (a page whose revision was
 * compacted meanwhile fails the read, which is then retried).
 */
export async function readPrefix(client: Etcd3, prefix: string, pageSize: number): Promise<{ revision: number; kvs: KeyValue[]; clusterId: string }> {
  const { Range } = etcd3();
  const end = Range.prefix(prefix).end;
  const page = (start: Buffer, revision?: number) => {
    const range = client.getAll().inRange(new Range(start, end)).limit(pageSize);
    return (revision === undefined ? range : range.revision(revision)).exec();
  };
  let next = page(Buffer.from(prefix));
  let revision: number | undefined;
  let clusterId: string | undefined;
  const kvs: KeyValue[] = [];
  for (;;) {
    const res = await next;
    revision ??= Number(res.header.revision);
    clusterId ??= String(res.header.cluster_id);
    const last = res.kvs[res.kvs.length - 1];
    const more = res.more && last !== undefined;
    // Ask for the next page (from the key after the last one read) before decoding this one: etcd works meanwhile.
    if (more) next = page(Buffer.concat([last.key, Buffer.from([0])]), revision);
    for (const kv of res.kvs) kvs.push({ key: str(kv.key), value: str(kv.value) });
    if (!more) return { revision, kvs, clusterId };
  }
}

const str = (b: Buffer): string => b.toString('utf8');

/**
 * etcd sends at most this many distinct revisions in one catch-up response
 * (mvcc watchBatchMaxRevs) and then gives the *current* revision as the
 * header, although later revisions are still to come. Such a batch is
 * stamped with its last event's revision instead, so a batch revision is
 * always "everything up to here has been delivered".
 */
const ETCD_WATCH_BATCH_MAX_REVS = 1000;


/** The etcd driver's two sources: the batches, and the connection status while the batches are subscribed. */
export interface EtcdSource {
  readonly batches$: Observable<EtcdBatch>;
  readonly status$: Observable<EtcdStatus>;
}

export function etcdSource(client: EtcdClientRef, opts: EtcdSourceOptions): EtcdSource {
  const statuses = new Subject<EtcdStatus>();
  const prefix = opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`;
  const backoff = opts.retry ?? { initialMs: 500, maxMs: 5_000 };
  const scheduler = opts.scheduler ?? asyncScheduler;

  const batches$ = new Observable<EtcdBatch>((subscriber) => {
    let closed = false;
    /** Highest revision delivered downstream (snapshot or event). */
    let lastRev = 0;
    let seenAny = false;
    let watcher: Watcher | undefined;
    /** A full read (and its retries), or the wait before one. */
    let pending: Subscription | undefined;
    /** Consecutive watch cancellations without a delivered event in between. */
    let cancelStreak = 0;
    /** The cluster the delivered state comes from: another one answering means a full read. */
    let cluster: string | undefined;

    const status = (s: EtcdStatus): void => {
      if (!closed) statuses.next(s);
    };

    /** Read everything; a failed read is retried with backoff (streams/retry-backoff.ts), each failure a `disconnected` status. */
    const snapshot = (cause: ResyncCause, delayMs = 0): void => {
      const read = (): void => {
        pending = defer(() => readPrefix(client(), prefix, opts.pageSize ?? 50_000))
          .pipe(retryBackoff(backoff, (err, retryInMs) => status({ kind: 'disconnected', reason: describeEtcdError(err), retryInMs }), scheduler))
          .subscribe(({ revision, kvs, clusterId }) => {
            if (closed) return;
            const after = seenAny ? lastRev : undefined;
            lastRev = revision;
            seenAny = true;
            cluster = clusterId;
            subscriber.next({ revision, events: [{ type: 'resync', revision, kvs }], clusterId });
            status({ kind: 'resynced', revision, keys: kvs.length, cause, ...(after !== undefined ? { after } : {}), clusterId });
            watch();
          });
      };
      pending?.unsubscribe();
      if (delayMs > 0) pending = scheduler.schedule(read, delayMs);
      else read();
    };

    /** After etcd canceled the watch: find out whether it was compaction, then read everything again. */
    const recover = (err: unknown): void => {
      cancelStreak += 1;
      const wanted = lastRev + 1;
      client()
        .getAll()
        .prefix(prefix)
        .revision(wanted)
        .limit(1)
        .keys()
        .then(
          () => false,
          (e: unknown) => e instanceof Error && /compacted/i.test(e.message),
        )
        .then((compacted) => {
          if (closed) return;
          if (!compacted) status({ kind: 'disconnected', reason: `watch canceled by etcd: ${describeEtcdError(err)}` });
          const cause: ResyncCause = compacted ? 'compacted' : 'canceled';
          // A watch that etcd keeps canceling must not spin.
          snapshot(cause, cancelStreak > 1 ? backoffDelay(backoff, cancelStreak - 2) : 0);
        });
    };

    const onResponse = (res: IWatchResponse): void => {
      if (res.events.length === 0) return; // progress notification
      const events: EtcdEvent[] = [];
      const revs = new Set<number>();
      let maxRev = lastRev;
      for (const ev of res.events) {
        const revision = Number(ev.kv.mod_revision);
        if (revision <= lastRev) continue; // already delivered: never twice
        const key = str(ev.kv.key);
        events.push(
          ev.type === 'Delete'
            ? { type: 'delete', key, revision }
            : { type: 'put', key, value: str(ev.kv.value), revision },
        );
        revs.add(revision);
        if (revision > maxRev) maxRev = revision;
      }
      if (events.length === 0) return;
      cancelStreak = 0;
      lastRev = maxRev;
      const header = Number(res.header.revision);
      const revision = revs.size >= ETCD_WATCH_BATCH_MAX_REVS || header < maxRev ? maxRev : header;
      subscriber.next({ revision, events });
    };

    const watch = (): void => {
      const w = client().watch().prefix(prefix).startRevision(String(lastRev + 1)).watcher();
      watcher = w;
      const current = (): boolean => !closed && watcher === w;
      // Every (re)attach resumes right after the last revision delivered.
      w.on('connecting', () => {
        w.request.start_revision = String(lastRev + 1);
      });
      w.on('connected', (res: IWatchResponse) => {
        if (!current()) return;
        const revision = Number(res.header.revision);
        const clusterId = String(res.header.cluster_id);
        if (cluster !== undefined && clusterId !== cluster) {
          // Another cluster (rebuilt, or another one behind the same address): its revisions mean something else.
          watcher = undefined;
          void w.cancel().catch(() => undefined);
          status({ kind: 'disconnected', reason: `etcd cluster id ${clusterId} is not the one the state was read from (${cluster}): reading everything again` });
          snapshot('cluster');
          return;
        }
        if (revision < lastRev) {
          // etcd's history is behind ours: a restored or new cluster. Watching
          // from lastRev+1 would wait for revisions that mean something else.
          watcher = undefined;
          void w.cancel().catch(() => undefined);
          status({ kind: 'disconnected', reason: `etcd revision ${revision} is behind the last one seen (${lastRev}): reading everything again` });
          snapshot('reset');
          return;
        }
        status({ kind: 'connected', revision, resumeFrom: lastRev + 1, clusterId });
      });
      w.on('data', (res: IWatchResponse) => {
        if (current()) onResponse(res);
      });
      w.on('disconnected', (err: unknown) => {
        if (current()) status({ kind: 'disconnected', reason: describeEtcdError(err) });
      });
      // A canceled watch: etcd3 has already detached it from its stream.
      w.on('error', (err: unknown) => {
        if (!current()) return;
        watcher = undefined;
        recover(err);
      });
    };

    const resume = opts.resume;
    if (resume !== undefined && resume.clusterId !== undefined) {
      lastRev = resume.revision;
      seenAny = true;
      cluster = resume.clusterId;
      watch();
    } else snapshot(resume !== undefined ? 'cluster' : 'start');

    return () => {
      closed = true;
      pending?.unsubscribe();
      const w = watcher;
      watcher = undefined;
      if (w) void w.cancel().catch(() => undefined);
    };
  });
  return { batches$, status$: statuses.asObservable() };
}
