/**
 * An index from K to a few keyed values (an address to the nodes that have
 * it, a node to its peerings). Almost every K holds one value, so a lone
 * value is kept as a plain record, not in a Map of its own: at 100,000
 * nodes this is the difference between a few and tens of MiB.
 */
interface Lone<V> {
  readonly key: string;
  readonly value: V;
}

export class SmallIndex<K, V> {
  private readonly map = new Map<K, Lone<V> | Map<string, V>>();

  set(k: K, key: string, value: V): void {
    const cur = this.map.get(k);
    if (cur === undefined || (!(cur instanceof Map) && cur.key === key)) this.map.set(k, { key, value });
    else if (cur instanceof Map) cur.set(key, value);
    else this.map.set(k, new Map([[cur.key, cur.value], [key, value]]));
  }

  delete(k: K, key: string): void {
    const cur = this.map.get(k);
    if (cur === undefined) return;
    if (!(cur instanceof Map)) {
      if (cur.key === key) this.map.delete(k);
      return;
    }
    cur.delete(key);
    if (cur.size === 1) {
      const [key1, value1] = cur.entries().next().value as [string, V];
      this.map.set(k, { key: key1, value: value1 });
    }
  }

  /**
   * Call `fn` with each [key, value] under k, in insertion order. A callback,
   * not an iterator: the plan asks this twice per address (100,000 times at
   * start), and a generator per call was a tenth of the plan's time.
   */
  forEach(k: K, fn: (value: V, key: string) => void): void {
    const cur = this.map.get(k);
    if (cur === undefined) return;
    if (cur instanceof Map) cur.forEach(fn);
    else fn(cur.value, cur.key);
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}
