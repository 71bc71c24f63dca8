/**
 * Remembers recently accepted DC-09 messages so that a retransmission (same account, sequence
 * number and content - the transmitter resends when our ACK got lost) is ACKed again but not
 * delivered twice. Bounded in time (ttlMs) and in size (oldest forgotten first). No I/O.
 */
export class RecentKeys {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  has(key: string, now: number): boolean {
    const at = this.seen.get(key);
    if (at === undefined) return false;
    if (now - at > this.ttlMs) {
      this.seen.delete(key);
      return false;
    }
    return true;
  }

  add(key: string, now: number): void {
    this.seen.delete(key);
    this.seen.set(key, now);
    // Map keeps insertion order: the first entries are the oldest.
    for (const [k, at] of this.seen) {
      if (this.seen.size <= this.maxEntries && now - at <= this.ttlMs) break;
      this.seen.delete(k);
    }
  }

  get size(): number {
    return this.seen.size;
  }
}
