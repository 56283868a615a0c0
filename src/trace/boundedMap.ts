/**
 * A Map with a capacity: inserting into a full map evicts the oldest entry and reports it,
 * so every map that grows with traffic has a ceiling and a count of what it dropped.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(
    readonly capacity: number,
    private readonly onEvict: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.entries().next().value as [K, V];
      this.map.delete(oldest[0]);
      this.onEvict(oldest[0], oldest[1]);
    }
    this.map.set(key, value);
  }

  delete(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) this.map.delete(key);
    return value;
  }

  /** Entries in insertion order (delivery tags arrive in increasing order). */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
  }
}
