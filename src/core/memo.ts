/**
 * A bounded memo of a pure function of a string: the one kind of
 * module-level cache in core. The function is pure and its results are
 * immutable, so the cache changes how long a call takes, never what it
 * returns; it is emptied when it holds `max` entries.
 */
export function boundedMemo<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const memo = new Map<string, V>();
  return (key) => {
    let v = memo.get(key);
    if (v === undefined) {
      v = compute(key);
      if (memo.size >= max) memo.clear();
      memo.set(key, v);
    }
    return v;
  };
}
