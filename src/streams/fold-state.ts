import { asyncScheduler, defer, merge, scan, scheduled, type Observable, type SchedulerLike } from 'rxjs';
import type { EtcdBatch } from '../core/events.js';
import { foldBatch, createState, type FoldResult, type State } from '../core/state.js';

/** A state to fold on from (the journal's, core/restore.ts), and when it was rendered. */
export interface FoldStart {
  readonly state: State;
  readonly stateAt: string;
}

/**
 * Fold etcd batches into state. Each subscription folds into a fresh state,
 * so the same batches always build the same state (the journal replays).
 * The emitted `state` is the live, in-place-updated state: read it when the
 * value arrives, do not keep it for later comparison.
 *
 * With `from` (a restart from the journal), that state is emitted first, as
 * it is (marked `restored`), and the batches are folded into it: it is
 * planned and rendered before etcd has answered, and what etcd sends next
 * is a difference to it. Only one subscription may fold into `from`. The
 * restored state is emitted on `scheduler` (not during the subscription),
 * so that every consumer of a shared fold, subscribed in turn, sees it.
 */
/** `ownNode`: NODENAME (its peer keys are this RR's own peers); a restored state already has it. */
export function foldState(prefix: string, from?: FoldStart, scheduler: SchedulerLike = asyncScheduler, ownNode?: string) {
  return (batches$: Observable<EtcdBatch>): Observable<FoldResult> =>
    defer(() => {
      const state = from?.state ?? createState(ownNode);
      const folded$ = batches$.pipe(scan((_, batch: EtcdBatch) => foldBatch(state, prefix, batch), undefined as unknown as FoldResult));
      if (from === undefined) return folded$;
      const restored: FoldResult = { state, revision: state.revision, eventCount: 0, rejected: [], restored: { stateAt: from.stateAt } };
      return merge(scheduled([restored], scheduler), folded$);
    });
}
