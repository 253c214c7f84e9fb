import { PREFIX } from '../../src/core/config.js';
import type { KeyValue } from '../../src/core/events.js';
import { foldBatch, createState, type State } from '../../src/core/state.js';

export const k = (suffix: string): string => `${PREFIX}${suffix}`;
export const kv = (suffix: string, value: unknown): KeyValue => ({
  key: k(suffix),
  value: typeof value === 'string' ? value : JSON.stringify(value),
});

/** A state holding exactly these key/values (one resync at revision 1). */
export function stateOf(kvs: readonly KeyValue[], ownNode?: string): State {
  const state = createState(ownNode);
  foldBatch(state, PREFIX, { revision: 1, events: [{ type: 'resync', revision: 1, kvs }] });
  return state;
}
