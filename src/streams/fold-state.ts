import { defer, scan, type Observable } from 'rxjs';
import type { EtcdBatch } from '../core/events.js';
import { applyBatch, createState, type FoldResult } from '../core/state.js';

/**
 * Fold etcd batches into state. Each subscription folds into a fresh state,
 * so the same batches always build the same state (the journal replays).
 * The emitted `state` is the live, in-place-updated state: read it when the
 * value arrives, do not keep it for later comparison.
 */
export function foldState(prefix: string) {
  return (batches$: Observable<EtcdBatch>): Observable<FoldResult> =>
    defer(() => {
      const state = createState();
      return batches$.pipe(scan((_, batch: EtcdBatch) => applyBatch(state, prefix, batch), undefined as unknown as FoldResult));
    });
}
