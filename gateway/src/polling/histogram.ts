/** Accumulated response-time histogram with fixed buckets (cheap, mergeable, Prometheus-shaped). */

/** Upper bounds (ms, inclusive) of the buckets; one more bucket counts everything above the last. */
export const RESPONSE_TIME_BUCKETS_MS: readonly number[] = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

export interface HistogramSnapshot {
  /** Inclusive upper bounds, ms. */
  bucketsMs: readonly number[];
  /** counts[i] for value <= bucketsMs[i] (and > the previous bound); the last entry counts values above every bound. */
  counts: number[];
  count: number;
  sumMs: number;
}

export class ResponseTimeHistogram {
  private readonly counts: number[];
  private count = 0;
  private sumMs = 0;

  constructor(private readonly bucketsMs: readonly number[] = RESPONSE_TIME_BUCKETS_MS) {
    this.counts = new Array<number>(bucketsMs.length + 1).fill(0);
  }

  record(ms: number): void {
    let i = 0;
    while (i < this.bucketsMs.length && ms > this.bucketsMs[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sumMs += ms;
  }

  snapshot(): HistogramSnapshot {
    return { bucketsMs: this.bucketsMs, counts: [...this.counts], count: this.count, sumMs: this.sumMs };
  }
}
