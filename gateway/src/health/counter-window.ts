/**
 * Rates from monotonic counters (PURE): keep timestamped samples of a few counters for a short
 * span, and answer "how much did each grow since the oldest sample, over how long?". Used for
 * bus utilisation, transactions per second and MQTT message rates.
 */

export interface CounterDelta<K extends string> {
  elapsedMs: number;
  /** Growth of each counter; a counter that went backwards (its owner restarted) counts from 0. */
  d: Record<K, number>;
}

interface Sample<K extends string> {
  at: number;
  values: Record<K, number>;
}

export class CounterWindow<K extends string> {
  private samples: Array<Sample<K>> = [];

  /** @param spanMs how far back the baseline may lie (rates are averaged over about this long). */
  constructor(private readonly spanMs: number) {}

  /** Keep a sample (call periodically, e.g. on every health tick). */
  add(at: number, values: Record<K, number>): void {
    this.samples.push({ at, values: { ...values } });
    // Keep the newest sample that is at least one span old: it is the baseline of a full window.
    let drop = 0;
    while (drop + 1 < this.samples.length && this.samples[drop + 1]!.at <= at - this.spanMs) drop++;
    if (drop > 0) this.samples = this.samples.slice(drop);
  }

  /** Growth from the oldest kept sample to `current` at `at`; undefined before any sample or with no time elapsed. */
  delta(at: number, current: Record<K, number>): CounterDelta<K> | undefined {
    const base = this.samples[0];
    if (!base || at <= base.at) return undefined;
    const d = {} as Record<K, number>;
    for (const key of Object.keys(current) as K[]) {
      const now = current[key];
      const then = base.values[key] ?? 0;
      d[key] = now >= then ? now - then : now;
    }
    return { elapsedMs: at - base.at, d };
  }
}
