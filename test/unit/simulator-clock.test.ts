/**
 * The precise scheduler behind wire-timed replies: never early, in time order, and (a timer
 * plus a short setImmediate spin) within a fraction of a millisecond of the target.
 */
import { describe, expect, it } from 'vitest';
import { monoNow, PreciseScheduler, SampleWindow } from '../../simulator/src/clock.js';

describe('PreciseScheduler', () => {
  it('runs callbacks in time order, never before their time, close to it', async () => {
    const s = new PreciseScheduler();
    const fired: Array<{ i: number; target: number; at: number }> = [];
    const base = monoNow();
    // Scheduled out of order, 3-40 ms ahead, some sharing a target.
    const offsets = [17.3, 3.2, 40, 9.9, 9.9, 25.05, 5.5, 31.7, 12.2, 3.4];
    await new Promise<void>((resolve) => {
      offsets.forEach((off, i) =>
        s.at(base + off, () => {
          fired.push({ i, target: base + off, at: monoNow() });
          if (fired.length === offsets.length) resolve();
        }),
      );
    });
    expect(fired.map((f) => f.target)).toEqual([...fired.map((f) => f.target)].sort((a, b) => a - b));
    const errors = fired.map((f) => f.at - f.target).sort((a, b) => a - b);
    expect(errors[0]).toBeGreaterThanOrEqual(0);
    expect(errors[Math.floor(errors.length / 2)]).toBeLessThan(1);
    expect(s.pending).toBe(0);
  });

  it('runs a callback whose time has passed on the next turn, and clear() drops the rest', async () => {
    const s = new PreciseScheduler();
    let late = false;
    let dropped = false;
    s.at(monoNow() - 5, () => (late = true));
    s.at(monoNow() + 20, () => (dropped = true));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(late).toBe(true);
    s.clear();
    await new Promise((r) => setTimeout(r, 40));
    expect(dropped).toBe(false);
  });
});

describe('SampleWindow', () => {
  it('summarises mean, percentiles and max over the last samples', () => {
    const w = new SampleWindow(100);
    for (let i = 1; i <= 100; i++) w.add(i);
    expect(w.summary()).toMatchObject({ count: 100, mean: 50.5, p50: 51, p99: 100, max: 100, min: 1 });
    for (let i = 0; i < 100; i++) w.add(0);
    expect(w.summary()).toMatchObject({ count: 200, mean: 0, max: 0 });
  });
});
