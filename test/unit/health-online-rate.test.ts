/**
 * Online-rate math with a fake clock: what counts as observed and online (gaps, flapping, a
 * device never seen), time-weighted roll-ups, seeding from history across restarts, and the
 * tracker fed by the bus.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import type { DeviceStatus } from '../../gateway/src/core/types.js';
import { AvailabilityTimeline, onlineRatio } from '../../gateway/src/health/availability-timeline.js';
import { AvailabilityTracker } from '../../gateway/src/health/availability-tracker.js';
import { seedTimelines } from '../../gateway/src/health/history-seed.js';
import { ObservationLog } from '../../gateway/src/health/observation-log.js';
import { onlineRollups, rollUp, windowLabel, type DeviceIdentity } from '../../gateway/src/health/online-rate.js';
import { silentLogger } from '../../gateway/src/log.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const T0 = 1_700_000_000_000;

const status = (device: string, availability: 'online' | 'offline', since: number): DeviceStatus => ({ device, availability, since, consecutiveFailures: 0 });

class FakeClock {
  constructor(public t: number) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

describe('AvailabilityTimeline', () => {
  it('counts online time over observed time, the running segment up to now', () => {
    const tl = new AvailabilityTimeline();
    tl.observe(T0);
    tl.set('online', T0 + 10 * S);
    tl.set('offline', T0 + 70 * S);
    tl.set('online', T0 + 100 * S);
    // [0,10) unknown, [10,70) online, [70,100) offline, [100,...) online
    expect(tl.measure(T0, T0 + 160 * S)).toEqual({ onlineMs: 120 * S, observedMs: 160 * S });
    expect(tl.measure(T0 + 50 * S, T0 + 110 * S)).toEqual({ onlineMs: 30 * S, observedMs: 60 * S });
    expect(onlineRatio(tl.measure(T0, T0 + 160 * S))).toBeCloseTo(0.75, 10);
  });

  it('does not count time before the first observation, nor gaps while the gateway was stopped', () => {
    const tl = new AvailabilityTimeline();
    tl.observe(T0 + 10 * MIN, 'online');
    tl.stop(T0 + 20 * MIN);
    // Gateway off from 20 to 50 min: neither online nor offline.
    tl.observe(T0 + 50 * MIN);
    tl.set('online', T0 + 50 * MIN + 2 * S);
    const m = tl.measure(T0, T0 + 60 * MIN);
    expect(m.observedMs).toBe(20 * MIN);
    expect(m.onlineMs).toBe(20 * MIN - 2 * S);
    expect(tl.stateAt(T0 + 30 * MIN)).toBeUndefined();
    expect(tl.stateAt(T0 + 15 * MIN)).toBe('online');
    expect(tl.stateAt(T0 + 50 * MIN + S)).toBe('unknown');
  });

  it('a device never seen is observed but never online: ratio 0', () => {
    const tl = new AvailabilityTimeline();
    tl.observe(T0);
    const m = tl.measure(T0 - H, T0 + H);
    expect(m).toEqual({ onlineMs: 0, observedMs: H });
    expect(onlineRatio(m)).toBe(0);
    // Nothing observed at all is offline as well, not "no data = fine".
    expect(onlineRatio(new AvailabilityTimeline().measure(T0, T0 + H))).toBe(0);
  });

  it('flapping: many short segments add up exactly, and pruning keeps the window right', () => {
    const tl = new AvailabilityTimeline();
    tl.observe(T0, 'offline');
    // 1000 flaps: online 3 s, offline 1 s.
    for (let i = 0; i < 1000; i++) {
      tl.set('online', T0 + i * 4 * S);
      tl.set('offline', T0 + i * 4 * S + 3 * S);
    }
    const end = T0 + 4000 * S;
    expect(tl.measure(T0, end)).toEqual({ onlineMs: 3000 * S, observedMs: 4000 * S });
    tl.prune(T0 + 2000 * S);
    expect(tl.size).toBeLessThanOrEqual(1000);
    expect(tl.measure(T0 + 2000 * S, end)).toEqual({ onlineMs: 1500 * S, observedMs: 2000 * S });
    // Same state twice is no change; a change dated in the past takes effect no earlier than the current segment (closed ones are never rewritten).
    tl.set('offline', end);
    tl.set('online', end - 10 * S);
    expect(tl.state).toBe('online');
    expect(tl.since).toBe(T0 + 3999 * S);
  });
});

describe('roll-ups', () => {
  const devices: DeviceIdentity[] = [
    { id: 'a1', kind: 'door-lock', profile: 'p', building: 'A' },
    { id: 'a2', kind: 'door-lock', profile: 'p', building: 'A' },
    { id: 'b1', kind: 'alarm-pole', profile: 'q', building: 'B' },
    { id: 'x', kind: 'alarm-pole', profile: 'q' },
  ];

  it('are time-weighted, not the mean of ratios', () => {
    const times = new Map([
      ['a1', { onlineMs: 24 * H, observedMs: 24 * H }],
      // Watched for 1 h only, offline all that time.
      ['a2', { onlineMs: 0, observedMs: H }],
      ['b1', { onlineMs: 12 * H, observedMs: 24 * H }],
      ['x', { onlineMs: 0, observedMs: 24 * H }],
    ]);
    const r = onlineRollups(devices, times);
    expect(r.buildings.A!.ratio).toBeCloseTo(24 / 25, 10);
    expect(r.buildings.A!.devices).toBe(2);
    expect(r.buildings['-']!.ratio).toBe(0);
    expect(r.kinds['door-lock']!.ratio).toBeCloseTo(24 / 25, 10);
    expect(r.kinds['alarm-pole']!.ratio).toBeCloseTo(12 / 48, 10);
    expect(r.site.ratio).toBeCloseTo(36 / 73, 10);
    expect(r.site).toMatchObject({ onlineMs: 36 * H, observedMs: 73 * H, devices: 4 });
    expect(rollUp([])).toEqual({ onlineMs: 0, observedMs: 0, ratio: 0, devices: 0 });
  });

  it('window labels', () => {
    expect(windowLabel(24 * H)).toBe('24h');
    expect(windowLabel(H)).toBe('1h');
    expect(windowLabel(15 * MIN)).toBe('15m');
    expect(windowLabel(30 * S)).toBe('30s');
    expect(windowLabel(7 * 24 * H)).toBe('168h');
    expect(windowLabel(30 * 24 * H)).toBe('30d');
    expect(windowLabel(1500)).toBe('1500ms');
  });
});

describe('seeding from history', () => {
  it('counts earlier runs only while the gateway was watching, with each run starting unknown', () => {
    const tls = seedTimelines({
      devices: ['d1', 'd2'],
      spans: [{ from: T0, to: T0 + 2 * H, devices: { d1: 'unknown', d2: 'unknown' } }],
      records: [status('d1', 'online', T0 + 5 * S), status('d2', 'online', T0 + 5 * S), status('d2', 'offline', T0 + H), status('d1', 'online', T0 + 10 * H + 3 * S)].reverse(),
      runStart: T0 + 10 * H,
      observingSince: T0 + 10 * H,
      now: T0 + 12 * H,
    });
    const d1 = tls.get('d1')!.measure(T0, T0 + 12 * H);
    // Run 1: 2 h watched, online from 5 s. Gateway off 8 h (not counted). Run 2: 2 h, online from 3 s.
    expect(d1).toEqual({ observedMs: 4 * H, onlineMs: 4 * H - 8 * S });
    const d2 = tls.get('d2')!.measure(T0, T0 + 12 * H);
    // d2 offline from 1 h and never heard of in run 2: unknown, not online.
    expect(d2).toEqual({ observedMs: 4 * H, onlineMs: H - 5 * S });
  });

  it('records after the last heartbeat of a crashed run stretch its span, but never into this process', () => {
    const tls = seedTimelines({
      devices: ['d1'],
      spans: [{ from: T0, to: T0 + H, devices: { d1: 'online' } }],
      // Written 5 s after the last heartbeat (the crash came later), and one from this process before we watch.
      records: [status('d1', 'offline', T0 + H + 5 * S), status('d1', 'online', T0 + 3 * H - 10 * S)].reverse(),
      runStart: T0 + 3 * H - 20 * S,
      observingSince: T0 + 3 * H,
      now: T0 + 3 * H,
    });
    expect(tls.get('d1')!.measure(T0, T0 + 3 * H)).toEqual({ observedMs: H + 5 * S, onlineMs: H + 5 * S });
  });

  it('devices not watched in an earlier run (added since) are not charged for it', () => {
    const tls = seedTimelines({
      devices: ['old', 'new'],
      spans: [{ from: T0, to: T0 + H, devices: { old: 'online', removed: 'online' } }],
      records: [],
      runStart: T0 + 2 * H,
      observingSince: T0 + 2 * H,
      now: T0 + 2 * H + MIN,
    });
    expect(tls.get('old')!.measure(T0, T0 + 2 * H + MIN)).toEqual({ observedMs: H + MIN, onlineMs: H });
    expect(tls.get('new')!.measure(T0, T0 + 2 * H + MIN)).toEqual({ observedMs: MIN, onlineMs: 0 });
    expect(tls.has('removed')).toBe(false);
  });
});

describe('AvailabilityTracker', () => {
  let dir: string | undefined;
  let store: Store | undefined;
  afterEach(() => {
    store?.close();
    store = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('follows bus status events; a device that goes offline loses rate in the 1 h window first', () => {
    const clock = new FakeClock(T0);
    const bus = new EventBus();
    const tracker = new AvailabilityTracker({ devices: ['d1', 'd2'], bus, horizonMs: 24 * H, now: clock.now, log: silentLogger() });
    tracker.start();
    clock.advance(S);
    bus.emit('status', status('d1', 'online', clock.t));
    bus.emit('status', status('d2', 'online', clock.t));
    bus.emit('status', status('ghost', 'online', clock.t)); // not configured: ignored
    clock.advance(2 * H - S);
    bus.emit('status', status('d2', 'offline', clock.t));
    clock.advance(30 * MIN);
    const day = tracker.onlineTimes(24 * H);
    const hour = tracker.onlineTimes(H);
    expect(day.get('d1')).toEqual({ onlineMs: 2.5 * H - S, observedMs: 2.5 * H });
    expect(day.get('d2')).toEqual({ onlineMs: 2 * H - S, observedMs: 2.5 * H });
    expect(hour.get('d2')).toEqual({ onlineMs: 30 * MIN, observedMs: H });
    expect(tracker.current('d2')).toEqual({ state: 'offline', since: T0 + 2 * H });
    expect(day.has('ghost')).toBe(false);
    tracker.stop();
  });

  it('survives a restart: store history + observation log, the downtime not counted', () => {
    dir = mkdtempSync(join(tmpdir(), 'sw-health-'));
    store = openStore({ memory: true });
    const stateFile = join(dir, 'health-observed.json');
    const clock = new FakeClock(T0);
    const bus = new EventBus();
    bus.on('status', (s) => store!.appendStatus(s));
    const make = (processStart: number) =>
      new AvailabilityTracker({
        devices: ['d1'],
        bus,
        horizonMs: 24 * H,
        now: clock.now,
        log: silentLogger(),
        statusHistory: (q) => store!.statusHistory(q),
        observationLog: new ObservationLog({ file: stateFile, log: silentLogger() }),
        processStart,
      });
    const first = make(T0);
    first.start();
    bus.emit('status', status('d1', 'online', clock.t));
    clock.advance(H);
    first.heartbeat();
    clock.advance(10 * S);
    // kill -9: no stop(), the last heartbeat was 10 s ago. The gateway stays down for 3 h.
    clock.advance(3 * H);
    const second = make(clock.t);
    second.start();
    clock.advance(MIN);
    bus.emit('status', status('d1', 'online', clock.t));
    clock.advance(H - MIN);
    const day = second.onlineTimes(24 * H).get('d1')!;
    // Run 1: 1 h (to the last heartbeat) online. Run 2: 1 h observed, 59 min online.
    expect(day).toEqual({ observedMs: 2 * H, onlineMs: 2 * H - MIN });
    second.stop();
    const file = JSON.parse(readFileSync(stateFile, 'utf8')) as { spans: Array<{ from: number; to: number }> };
    expect(file.spans.map((s) => s.to - s.from)).toEqual([H, H]);
  });

  it('a corrupt observation log is replaced, not fatal', () => {
    dir = mkdtempSync(join(tmpdir(), 'sw-health-'));
    const stateFile = join(dir, 'health-observed.json');
    writeFileSync(stateFile, '{"version":1,"spans":[{"from":"x"}]}');
    const clock = new FakeClock(T0);
    const tracker = new AvailabilityTracker({
      devices: ['d1'],
      bus: new EventBus(),
      horizonMs: H,
      now: clock.now,
      log: silentLogger(),
      observationLog: new ObservationLog({ file: stateFile, log: silentLogger() }),
    });
    tracker.start();
    clock.advance(MIN);
    tracker.heartbeat();
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toEqual({ version: 1, spans: [{ from: T0, to: T0 + MIN, devices: { d1: 'unknown' } }] });
    tracker.stop();
  });
});
