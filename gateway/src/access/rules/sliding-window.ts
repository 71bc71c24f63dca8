/**
 * Per-key lists of timestamped items within a trailing window (PURE), the memory of the burst,
 * late-night and several-doors rules. Items arrive roughly in time order; older ones are dropped
 * when a key is touched, and `sweep` drops keys nobody touched for a whole window.
 */
export class SlidingWindows<T> {
  private readonly lists = new Map<string, Array<{ ts: number; item: T }>>();

  /** Add an item and return the key's items within (ts - windowMs, ts], oldest first. */
  add(key: string, ts: number, item: T, windowMs: number): ReadonlyArray<{ ts: number; item: T }> {
    let list = this.lists.get(key);
    if (!list) {
      list = [];
      this.lists.set(key, list);
    }
    // Keep time order even if a late record arrives (rare: a lock's log read after a reconnect).
    let i = list.length;
    while (i > 0 && list[i - 1]!.ts > ts) i--;
    list.splice(i, 0, { ts, item });
    const from = ts - windowMs;
    let drop = 0;
    while (drop < list.length && list[drop]!.ts <= from) drop++;
    if (drop > 0) list.splice(0, drop);
    return list;
  }

  /** Forget a key's items (after its rule fired: the next decision needs a fresh set). */
  reset(key: string): void {
    this.lists.delete(key);
  }

  /** Drop keys whose newest item is older than windowMs before now. */
  sweep(now: number, windowMs: number): void {
    for (const [key, list] of this.lists) if (list.length === 0 || list[list.length - 1]!.ts <= now - windowMs) this.lists.delete(key);
  }

  get size(): number {
    return this.lists.size;
  }
}
