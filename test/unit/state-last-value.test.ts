import { describe, expect, it } from 'vitest';
import { LastValueState } from '../../gateway/src/core/state.js';

const T0 = 1_700_000_000_000;

function makeState() {
  const s = new LastValueState({ staleAfterIntervals: 3 });
  s.defineDevice('lock1', [
    { id: 'door', intervalMs: 0 },
    { id: 'battery', unit: 'V', deadband: 0.1, intervalMs: 60_000 },
    { id: 'temp', unit: '°C', deadband: 0.5, intervalMs: 5000 },
    { id: 'flags', intervalMs: 5000 },
    { id: 'pushed' },
  ]);
  return s;
}

describe('last-value state: report by exception', () => {
  it('publishes the first value, then only changes', () => {
    const s = makeState();
    const first = s.apply('lock1', { door: 'closed', battery: 3.3 }, T0);
    expect(first).toEqual([
      { device: 'lock1', point: 'door', value: 'closed', quality: 'good', ts: T0 },
      { device: 'lock1', point: 'battery', value: 3.3, unit: 'V', quality: 'good', ts: T0 },
    ]);
    expect(s.apply('lock1', { door: 'closed', battery: 3.3 }, T0 + 100)).toEqual([]);
    expect(s.apply('lock1', { door: 'open', battery: 3.3 }, T0 + 200)).toEqual([
      { device: 'lock1', point: 'door', value: 'open', quality: 'good', ts: T0 + 200 },
    ]);
  });

  it('compares bitfields by their flags, not by object identity', () => {
    const s = makeState();
    expect(s.apply('lock1', { flags: { a: true, b: false } }, T0)).toHaveLength(1);
    expect(s.apply('lock1', { flags: { a: true, b: false } }, T0 + 1)).toHaveLength(0);
    expect(s.apply('lock1', { flags: { a: true, b: true } }, T0 + 2)).toHaveLength(1);
  });

  it('suppresses changes below the deadband and reports slow drift once it adds up', () => {
    const s = makeState();
    s.apply('lock1', { temp: 20.0 }, T0);
    // +0.125 per read (exact in binary): each step is below the 0.5 deadband, but against the last
    // *published* value the drift reaches the deadband on the fourth step.
    expect(s.apply('lock1', { temp: 20.125 }, T0 + 1)).toEqual([]);
    expect(s.apply('lock1', { temp: 20.25 }, T0 + 2)).toEqual([]);
    expect(s.apply('lock1', { temp: 20.375 }, T0 + 3)).toEqual([]);
    expect(s.apply('lock1', { temp: 20.5 }, T0 + 4).map((p) => [p.value, p.ts])).toEqual([[20.5, T0 + 4]]);
    // The reference moves to 20.5: -0.375 is suppressed, -0.5 (exactly the deadband) is published.
    expect(s.apply('lock1', { temp: 20.125 }, T0 + 5)).toEqual([]);
    expect(s.apply('lock1', { temp: 20.0 }, T0 + 6).map((p) => p.value)).toEqual([20.0]);
    expect(s.get('lock1', 'temp')?.value).toBe(20.0);
  });

  it('always publishes a quality change, even within the deadband', () => {
    const s = makeState();
    s.apply('lock1', { battery: 3.3 }, T0);
    const bad = s.apply('lock1', {}, T0 + 1, { bad: { battery: 'not a finite number' } });
    expect(bad).toEqual([{ device: 'lock1', point: 'battery', value: 3.3, unit: 'V', quality: 'bad', ts: T0 + 1 }]);
    expect(s.apply('lock1', {}, T0 + 2, { bad: ['battery'] })).toEqual([]);
    const good = s.apply('lock1', { battery: 3.31 }, T0 + 3);
    expect(good).toEqual([{ device: 'lock1', point: 'battery', value: 3.31, unit: 'V', quality: 'good', ts: T0 + 3 }]);
  });

  it('accepts points it was not told about', () => {
    const s = makeState();
    expect(s.apply('other', { x: 1 }, T0)).toEqual([{ device: 'other', point: 'x', value: 1, quality: 'good', ts: T0 }]);
    expect(s.apply('other', { x: 1 }, T0 + 1)).toEqual([]);
  });
});

describe('last-value state: offline and stale', () => {
  it('turns every point stale when the device goes offline, and fresh again at the next read', () => {
    const s = makeState();
    s.apply('lock1', { door: 'closed', battery: 3.3, temp: 21 }, T0);
    const stale = s.markDeviceOffline('lock1', T0 + 10);
    expect(stale.map((p) => [p.point, p.quality, p.value, p.ts])).toEqual([
      ['door', 'stale', 'closed', T0 + 10],
      ['battery', 'stale', 3.3, T0 + 10],
      ['temp', 'stale', 21, T0 + 10],
    ]);
    expect(s.markDeviceOffline('lock1', T0 + 20)).toEqual([]);
    // The same value read again is not "unchanged": it is fresh again and must be published.
    const back = s.apply('lock1', { door: 'closed', battery: 3.3 }, T0 + 30);
    expect(back.map((p) => [p.point, p.quality, p.ts])).toEqual([
      ['door', 'good', T0 + 30],
      ['battery', 'good', T0 + 30],
    ]);
    expect(s.get('lock1', 'temp')?.quality).toBe('stale');
  });

  it('marks points stale after staleAfterIntervals × their interval without a refresh', () => {
    const s = makeState();
    s.apply('lock1', { temp: 21, battery: 3.3, door: 'closed', pushed: 1 }, T0);
    // temp: 3 × 5 s = 15 s; door (interval 0) uses the 1 s floor: 3 s; battery 180 s; pushed: never.
    expect(s.sweepStale(T0 + 3000)).toEqual([]);
    expect(s.sweepStale(T0 + 3001).map((p) => p.point)).toEqual(['door']);
    s.apply('lock1', { temp: 21 }, T0 + 10_000); // refreshed, unchanged: not published, but not stale either
    expect(s.sweepStale(T0 + 24_000)).toEqual([]);
    const stale = s.sweepStale(T0 + 25_001);
    expect(stale).toEqual([{ device: 'lock1', point: 'temp', value: 21, unit: '°C', quality: 'stale', ts: T0 + 25_001 }]);
    expect(s.sweepStale(T0 + 26_000)).toEqual([]);
    expect(s.sweepStale(T0 + 180_001).map((p) => p.point)).toEqual(['battery']);
    expect(s.sweepStale(T0 + 10_000_000)).toEqual([]);
    expect(s.get('lock1', 'pushed')?.quality).toBe('good');
    // Recovery: the next read publishes the point as good even though its value did not change.
    expect(s.apply('lock1', { temp: 21 }, T0 + 200_000)).toEqual([
      { device: 'lock1', point: 'temp', value: 21, unit: '°C', quality: 'good', ts: T0 + 200_000 },
    ]);
  });

  it('snapshots the published state for the retained message', () => {
    const s = makeState();
    s.apply('lock1', { door: 'open', temp: 20 }, T0);
    s.apply('lock1', { temp: 20.3 }, T0 + 1); // within deadband: the world still knows 20
    s.markDeviceOffline('lock1', T0 + 2);
    expect(s.snapshot('lock1')).toEqual([
      { device: 'lock1', point: 'door', value: 'open', quality: 'stale', ts: T0 + 2 },
      { device: 'lock1', point: 'temp', value: 20, unit: '°C', quality: 'stale', ts: T0 + 2 },
    ]);
    expect(s.snapshot('nobody')).toEqual([]);
    s.removeDevice('lock1');
    expect(s.snapshot('lock1')).toEqual([]);
  });

  it('refresh(): notes fresh good points without publishing; refuses (changing nothing that matters) when a point is unknown or not good', () => {
    const s = makeState();
    expect(s.refresh('lock1', { temp: 20 }, T0)).toBe(false); // never published
    s.apply('lock1', { temp: 20 }, T0);
    expect(s.refresh('lock1', { temp: 20 }, T0 + 4000)).toBe(true);
    // Refreshed: not stale 3 intervals after the first read (temp: 5 s interval), only 3 after the refresh.
    expect(s.sweepStale(T0 + 16_000)).toEqual([]);
    expect(s.sweepStale(T0 + 19_001).map((p) => [p.point, p.quality])).toEqual([['temp', 'stale']]);
    // A stale point must go back to good through apply(), which publishes the change.
    expect(s.refresh('lock1', { temp: 20 }, T0 + 20_000)).toBe(false);
    expect(s.apply('lock1', { temp: 20 }, T0 + 20_000).map((p) => [p.point, p.quality])).toEqual([['temp', 'good']]);
    expect(s.refresh('other', { door: 'closed' }, T0)).toBe(false);
  });
});
