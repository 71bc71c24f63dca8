import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../gateway/src/polling/breaker.js';
import { ResponseTimeHistogram } from '../../gateway/src/polling/histogram.js';

describe('circuit breaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const b = new CircuitBreaker({ failures: 3, backoff: 5000, maxBackoff: 60_000 });
    expect(b.failure(0)).toBe(false);
    expect(b.failure(1)).toBe(false);
    b.success();
    expect(b.failure(2)).toBe(false);
    expect(b.failure(3)).toBe(false);
    expect(b.state).toBe('closed');
    expect(b.failure(4)).toBe(true);
    expect(b.state).toBe('open');
    expect(b.nextProbeAt).toBe(5004);
  });

  it('allows one probe per window, doubling the window up to maxBackoff', () => {
    const b = new CircuitBreaker({ failures: 1, backoff: 5000, maxBackoff: 30_000 });
    b.failure(0);
    const windows: number[] = [];
    let t = 0;
    for (let i = 0; i < 5; i++) {
      expect(b.allows(b.nextProbeAt! - 1)).toBe(false);
      t = b.nextProbeAt!;
      expect(b.allows(t)).toBe(true);
      expect(b.failure(t)).toBe(false); // a failed probe is not a new trip
      windows.push(b.nextProbeAt! - t);
    }
    expect(windows).toEqual([10_000, 20_000, 30_000, 30_000, 30_000]);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allows(t)).toBe(true);
    expect(b.failure(t)).toBe(true);
    expect(b.nextProbeAt! - t).toBe(5000); // a new trip starts again at the first backoff
  });
});

describe('response-time histogram', () => {
  it('counts into fixed buckets with an overflow bucket', () => {
    const h = new ResponseTimeHistogram([10, 100]);
    for (const ms of [1, 10, 11, 100, 101, 5000]) h.record(ms);
    expect(h.snapshot()).toEqual({ bucketsMs: [10, 100], counts: [2, 2, 2], count: 6, sumMs: 5223 });
  });
});
