import { describe, expect, it } from 'vitest';
import { deviceSchema, pollingSchema } from '../../gateway/src/config/schema.js';
import type { DeviceStatus } from '../../gateway/src/core/types.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { BusScheduler } from '../../gateway/src/polling/bus-scheduler.js';
import type { PolledDevice, ValuesBatch } from '../../gateway/src/polling/types.js';
import { profileSchema, type ProfileInput } from '../../gateway/src/profiles/schema.js';
import { FakeModbusTransport, ManualClock, settle, type TransactionLog } from './polling-fakes.js';

type PollingInput = Parameters<typeof pollingSchema.parse>[0];

function profile(id: string, points: ProfileInput['points']) {
  return profileSchema.parse({ id, name: { zh: id, en: id }, kind: 'other', transport: ['modbus-rtu'], points });
}

/** A pole: alarm block discrete 0+2, a fast block input 0+4, a normal block input 20+2. */
const pole = profile('pole', [
  { id: 'button', table: 'discrete', address: 0, type: 'bool', map: { '0': 'released', '1': 'pressed' }, priority: 'alarm' },
  { id: 'tamper', table: 'discrete', address: 1, type: 'bool', priority: 'alarm' },
  { id: 'call_state', table: 'input', address: 0, type: 'u16', poll: 'fast' },
  { id: 'a1', table: 'input', address: 1, type: 'u16', poll: 'fast' },
  { id: 'a2', table: 'input', address: 2, type: 'u16', poll: 'fast' },
  { id: 'a3', table: 'input', address: 3, type: 'u16', poll: 'fast' },
  { id: 'battery', table: 'input', address: 20, type: 'u16', poll: 'normal' },
  { id: 'b1', table: 'input', address: 21, type: 'u16', poll: 'normal' },
]);

function dev(id: string, unitId: number, p = pole): PolledDevice {
  return { config: deviceSchema.parse({ id, profile: p.id, bus: 'bus1', unitId }), profile: p };
}

function harness(
  devices: PolledDevice[],
  polling: PollingInput = {},
  transport?: { baudRate: number; turnaroundMs: number; timeoutMs: number },
  fake: { promiseOnly?: boolean } = {},
) {
  const clock = new ManualClock();
  const bus = new FakeModbusTransport(clock, transport, fake);
  const values: ValuesBatch[] = [];
  const statuses: DeviceStatus[] = [];
  const scheduler = new BusScheduler({
    bus: 'bus1',
    transport: bus,
    polling: pollingSchema.parse(polling),
    devices,
    wire: { framing: 'rtu', baudRate: bus.options.baudRate },
    clock,
    onValues: (v) => values.push(v),
    onStatus: (s) => statuses.push(s),
  });
  return { clock, bus, values, statuses, scheduler };
}

const isAlarmRead = (t: TransactionLog) => t.kind === 'read' && t.table === 'discrete';

describe('bus scheduler: alarm sweeps', () => {
  it('polls alarm blocks first and runs sweeps with exactly readsBetweenAlarmSweeps other reads in between', async () => {
    const R = 2;
    const { clock, bus, scheduler } = harness([dev('p1', 1), dev('p2', 2), dev('p3', 3)], { readsBetweenAlarmSweeps: R });
    scheduler.start();
    await clock.advance(9_999);
    await settle(clock, scheduler.stop());
    const log = bus.log;
    expect(bus.maxInFlight).toBe(1);
    expect(log.slice(0, 3).map((t) => [t.unit, t.table])).toEqual([
      [1, 'discrete'],
      [2, 'discrete'],
      [3, 'discrete'],
    ]);
    // Alarm reads cycle through the poles in order; other reads only come between two sweeps
    // (after pole 3), at most R at a time, and exactly R while enough are due (6 at start).
    const alarmUnits = log.filter(isAlarmRead).map((t) => t.unit);
    alarmUnits.forEach((u, k) => expect(u).toBe((k % 3) + 1));
    const between: number[] = [];
    let run = 0;
    log.forEach((t, k) => {
      if (!isAlarmRead(t)) {
        run++;
        return;
      }
      if (run > 0) {
        expect(log[k - run - 1]!.unit).toBe(3);
        expect(t.unit).toBe(1);
        between.push(run);
      }
      run = 0;
    });
    expect(between.slice(0, 3)).toEqual([R, R, R]);
    expect(Math.max(...between)).toBe(R);
    // All other reads happen at their rate: 3 fast blocks × 10 periods + 3 normal × 2.
    const others = log.filter((t) => !isAlarmRead(t));
    expect(others).toHaveLength(36);
    // The rest of the bus time is alarm sweeps, back to back.
    const alarmMs = bus.readMs('discrete', 2);
    const otherMs = 30 * bus.readMs('input', 4) + 6 * bus.readMs('input', 2);
    const expectedAlarmReads = Math.floor((9_999 - otherMs) / alarmMs);
    expect(Math.abs(log.filter(isAlarmRead).length - expectedAlarmReads)).toBeLessThanOrEqual(1);
    const stats = scheduler.stats();
    expect(stats.sweeps).toBe(Math.ceil(alarmUnits.length / 3));
    expect(stats.lastSweepMs).toBeCloseTo(3 * alarmMs, 6);
  });

  it('sees a pole press within one sweep plus readsBetweenAlarmSweeps reads', async () => {
    const poles = Array.from({ length: 10 }, (_, k) => dev(`p${k + 1}`, k + 1));
    const { clock, bus, values, scheduler } = harness(poles, { readsBetweenAlarmSweeps: 1 });
    scheduler.start();
    await clock.advance(2000);
    const latencies: number[] = [];
    // Deterministic pseudo-random press times (an LCG), so presses land at every phase of the sweep.
    let seed = 12345;
    const nextOffset = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), 20 + (seed % 400));
    for (let k = 0; k < 30; k++) {
      const unit = (k % 10) + 1;
      await clock.advance(nextOffset());
      const pressedAt = clock.now();
      bus.slave(unit).tables.discrete.set(0, 1);
      const seenBefore = values.length;
      let seen: ValuesBatch | undefined;
      for (let step = 0; step < 200 && !seen; step++) {
        await clock.advance(5);
        seen = values.slice(seenBefore).find((v) => v.device === `p${unit}` && v.values.button === 'pressed');
      }
      expect(seen).toBeDefined();
      latencies.push(seen!.ts - pressedAt);
      bus.slave(unit).tables.discrete.set(0, 0);
    }
    await settle(clock, scheduler.stop());
    const alarmMs = bus.readMs('discrete', 2);
    const otherMs = Math.max(bus.readMs('input', 4), bus.readMs('input', 2));
    // Worst case: the pole was sampled just before the press; the next sample is one sweep plus R reads later.
    const bound = 11 * alarmMs + 1 * otherMs;
    expect(Math.max(...latencies)).toBeLessThanOrEqual(bound);
    // ... and presses are not all lucky: the spread covers most of a sweep.
    expect(Math.max(...latencies) - Math.min(...latencies)).toBeGreaterThan(5 * alarmMs);
    expect(bus.maxInFlight).toBe(1);
  });

  it('with an alarm interval > 0 sweeps start on time and other reads fill the gaps', async () => {
    const { clock, bus, scheduler } = harness([dev('p1', 1), dev('p2', 2)], { intervals: { alarm: 500, fast: 1000, normal: 5000, slow: 60000 } });
    scheduler.start();
    await clock.advance(9_999);
    await settle(clock, scheduler.stop());
    const sweepStarts = bus.log.filter((t) => isAlarmRead(t) && t.unit === 1).map((t) => t.start);
    expect(sweepStarts).toHaveLength(20);
    const t0 = sweepStarts[0]!;
    // Each sweep starts no later than one other read after its due time.
    sweepStarts.forEach((s, k) => expect(s - (t0 + 500 * k)).toBeLessThanOrEqual(bus.readMs('input', 4) + 1e-9));
  });
});

describe('bus scheduler: bounded queue', () => {
  /** 20 fast blocks far apart (no merging), each read ~115 ms: demand is 2.3× what the bus can carry. */
  const spread = profile(
    'spread',
    Array.from({ length: 20 }, (_, k) => ({ id: `r${k}`, table: 'holding' as const, address: k * 100, type: 'u16' as const, poll: 'fast' as const })),
  );

  it('never holds more than queueLimit reads, counts the overflow and keeps the bus busy', async () => {
    const { clock, bus, scheduler } = harness([dev('d1', 1, spread)], { queueLimit: 8 }, { baudRate: 9600, turnaroundMs: 100, timeoutMs: 300 });
    scheduler.start();
    let maxDepth = 0;
    for (let t = 0; t < 300; t++) {
      await clock.advance(50);
      maxDepth = Math.max(maxDepth, scheduler.stats().queueDepth);
    }
    await settle(clock, scheduler.stop());
    const stats = scheduler.stats();
    expect(maxDepth).toBeLessThanOrEqual(8);
    expect(stats.queueHighWater).toBe(8);
    expect(stats.dropped).toBeGreaterThan(0);
    // 20 blocks due every second for 15 s = 300 attempts; what was not read was dropped or coalesced.
    const readMs = bus.readMs('holding', 1);
    expect(stats.reads).toBeGreaterThanOrEqual(Math.floor(15_000 / readMs) - 1);
    expect(stats.reads + stats.dropped + stats.coalesced).toBeGreaterThanOrEqual(300);
    expect(bus.maxInFlight).toBe(1);
  });

  it('with room in the queue, holds each overdue block once (20 blocks: never more than 20 queued)', async () => {
    const { clock, scheduler } = harness([dev('d1', 1, spread)], { queueLimit: 512 }, { baudRate: 9600, turnaroundMs: 100, timeoutMs: 300 });
    scheduler.start();
    await clock.advance(15_000);
    await settle(clock, scheduler.stop());
    const stats = scheduler.stats();
    expect(stats.queueHighWater).toBe(20);
    expect(stats.dropped).toBe(0);
    expect(stats.coalesced).toBeGreaterThan(100);
  });

  it('does not queue a block again while it is queued or in flight', async () => {
    const fastOne = profile('fast-one', [{ id: 'x', table: 'holding', address: 0, type: 'u16', poll: 10 }]);
    const { clock, bus, scheduler } = harness([dev('d1', 1, fastOne)], { queueLimit: 8 }, { baudRate: 9600, turnaroundMs: 100, timeoutMs: 300 });
    scheduler.start();
    await clock.advance(10_000);
    await settle(clock, scheduler.stop());
    const stats = scheduler.stats();
    const readMs = bus.readMs('holding', 1);
    expect(stats.queueHighWater).toBe(1);
    expect(stats.dropped).toBe(0);
    expect(stats.reads).toBe(Math.ceil(10_000 / readMs));
    // Every 10 ms period that fell due during a ~115 ms read was coalesced, not queued.
    expect(stats.coalesced).toBeGreaterThan(stats.reads * 9);
  });
});

describe('bus scheduler: circuit breaker', () => {
  const simple = profile('simple', [
    { id: 'door', table: 'discrete', address: 0, type: 'bool', priority: 'alarm' },
    { id: 'v', table: 'input', address: 0, type: 'u16', poll: 'fast' },
    { id: 'w', table: 'input', address: 1, type: 'u16', poll: 'fast' },
    { id: 'battery', table: 'input', address: 30, type: 'u16', poll: 'normal' },
  ]);
  const T = 300_000;

  async function run(bDead: boolean) {
    const h = harness([dev('a', 1, simple), dev('b', 2, simple)]);
    h.bus.slave(2).dead = bDead;
    h.scheduler.start();
    await h.clock.advance(T);
    await settle(h.clock, h.scheduler.stop());
    return h;
  }

  it('a dead slave costs at most one timeout per backoff window; its neighbour keeps >= 90% of its reads', async () => {
    const healthy = await run(false);
    const dead = await run(true);
    const aReads = (h: typeof healthy, table?: string) => h.bus.log.filter((t) => t.unit === 1 && t.outcome === 'ok' && (!table || t.table === table)).length;
    // The neighbour: alarm reads and interval reads both keep their rate.
    expect(aReads(dead, 'discrete') / aReads(healthy, 'discrete')).toBeGreaterThanOrEqual(0.9);
    expect(aReads(dead, 'input') / aReads(healthy, 'input')).toBeGreaterThanOrEqual(0.9);
    expect(aReads(dead, 'input')).toBe(aReads(healthy, 'input'));

    const bTries = dead.bus.log.filter((t) => t.unit === 2);
    expect(bTries.every((t) => t.outcome === 'timeout')).toBe(true);
    // 3 failures trip the breaker; then probes with windows 5, 10, 20, 40, 60, 60, ... s.
    const probes = bTries.slice(3);
    let windowMs = 5000;
    let prevEnd = bTries[2]!.end;
    for (const p of probes) {
      expect(p.start - prevEnd).toBeGreaterThanOrEqual(windowMs);
      // ... and not much later: the probe is the next read of that device once the window has passed.
      expect(p.start - prevEnd).toBeLessThan(windowMs + 1000);
      prevEnd = p.end;
      windowMs = Math.min(windowMs * 2, 60_000);
    }
    // Windows 5+10+20+40 = 75 s, then every 60 s: probes at ~5, 15, 35, 75, 135, 195, 255 s after the trip.
    expect(probes).toHaveLength(7);
    const stats = dead.scheduler.stats();
    expect(stats.devices.b!.breakerTrips).toBe(1);
    expect(stats.devices.b!.breaker).toBe('open');
    expect(stats.devices.b!.failures).toBe(10);
    expect(stats.devices.b!.success).toBe(0);
    expect(stats.skipped).toBeGreaterThan(1000);
    expect(dead.statuses).toEqual([
      expect.objectContaining({ device: 'a', availability: 'online' }),
      expect.objectContaining({ device: 'b', availability: 'offline', reason: 'timeout', consecutiveFailures: 3 }),
    ]);
  });

  it('reports offline/online transitions with reasons: breaker, recovery, transport closed and reopened', async () => {
    const { clock, bus, statuses, scheduler } = harness([dev('a', 1, simple), dev('b', 2, simple)]);
    scheduler.start();
    await clock.advance(1000);
    expect(statuses.map((s) => [s.device, s.availability])).toEqual([
      ['a', 'online'],
      ['b', 'online'],
    ]);
    bus.slave(2).dead = true;
    await clock.advance(3000);
    const off = statuses[2]!;
    expect(off).toMatchObject({ device: 'b', availability: 'offline', reason: 'timeout', consecutiveFailures: 3 });
    const tripAt = off.since;
    bus.slave(2).dead = false;
    await clock.advance(10_000);
    const on = statuses[3]!;
    expect(on).toMatchObject({ device: 'b', availability: 'online', consecutiveFailures: 0 });
    // Online again at the first probe, one backoff window after the trip.
    expect(on.since - tripAt).toBeGreaterThanOrEqual(5000);
    expect(on.since - tripAt).toBeLessThan(5300);

    bus.setState('closed', 'USB adapter unplugged');
    const closedAt = clock.now();
    expect(statuses.slice(4).map((s) => [s.device, s.availability, s.reason])).toEqual([
      ['a', 'offline', 'transport closed'],
      ['b', 'offline', 'transport closed'],
    ]);
    const before = bus.log.length;
    await clock.advance(5000);
    // At most the read in flight at the moment of loss; nothing is started on a closed bus.
    expect(bus.log.slice(before).filter((t) => t.start > closedAt)).toEqual([]);
    bus.setState('open');
    const reopenedAt = clock.now();
    await clock.advance(500);
    const back = statuses.slice(6).sort((x, y) => x.device.localeCompare(y.device));
    expect(back.map((s) => [s.device, s.availability])).toEqual([
      ['a', 'online'],
      ['b', 'online'],
    ]);
    for (const s of back) expect(s.since - reopenedAt).toBeLessThan(100);
    await settle(clock, scheduler.stop());
  });

  it('treats a Modbus exception as a live device with a failed block, not a breaker failure', async () => {
    const { clock, bus, values, statuses, scheduler } = harness([dev('a', 1, simple)]);
    bus.slave(1).exceptionOn = (table, address) => table === 'input' && address === 30;
    scheduler.start();
    await clock.advance(60_000);
    await settle(clock, scheduler.stop());
    const stats = scheduler.stats().devices.a!;
    expect(stats.exceptions).toBe(12); // the normal block, every 5 s
    expect(stats.failures).toBe(12);
    expect(stats.breakerTrips).toBe(0);
    expect(stats.breaker).toBe('closed');
    expect(statuses.map((s) => s.availability)).toEqual(['online']);
    const bad = values.filter((v) => v.bad);
    expect(bad).toHaveLength(12);
    expect(bad[0]).toMatchObject({ device: 'a', values: {}, pollClass: 'normal', bad: { battery: expect.stringMatching(/^exception: .*illegal data address/) } });
  });
});

describe('bus scheduler: writes, decoding, stop, stats', () => {
  const spread = profile(
    'spread',
    Array.from({ length: 20 }, (_, k) => ({ id: `r${k}`, table: 'holding' as const, address: k * 100, type: 'u16' as const, poll: 'fast' as const })),
  );

  it('writes take the next slot, ahead of queued reads and alarm sweeps', async () => {
    const { clock, bus, scheduler } = harness([dev('d1', 1, spread), dev('p1', 2)]);
    scheduler.start();
    await clock.advance(1003);
    expect(scheduler.stats().queueDepth).toBeGreaterThanOrEqual(3);
    const calledAt = clock.now();
    const inFlight = bus.log[bus.log.length - 1]!;
    const done = scheduler.write('p1', 'coil', 2, [1]);
    await clock.advance(200);
    await expect(done).resolves.toBeUndefined();
    const w = bus.log.findIndex((t) => t.kind === 'write');
    expect(bus.log[w]).toMatchObject({ unit: 2, table: 'coil', address: 2, count: 1, outcome: 'ok' });
    // Started the moment the read in flight ended.
    expect(bus.log[w - 1]).toBe(inFlight);
    expect(bus.log[w]!.start).toBe(inFlight.end);
    expect(bus.log[w]!.start - calledAt).toBeLessThan(bus.readMs('holding', 1));
    expect(bus.slave(2).tables.coil.get(2)).toBe(1);
    expect(scheduler.stats().writes).toBe(1);
    await settle(clock, scheduler.stop());
  });

  it('rejects writes to unknown devices, to devices with an open breaker and on a stopped bus', async () => {
    const { clock, bus, scheduler } = harness([dev('p1', 1), dev('p2', 2)]);
    scheduler.start();
    await expect(scheduler.write('nope', 'coil', 0, [1])).rejects.toMatchObject({ code: 'SW_ERR_DEVICE_UNKNOWN' });
    bus.slave(2).dead = true;
    await clock.advance(3000);
    const t0 = clock.now();
    const err = await scheduler.write('p2', 'coil', 0, [1]).catch((e: unknown) => e);
    expect(isShouwangError(err, 'SW_ERR_BREAKER_OPEN')).toBe(true);
    expect(clock.now()).toBe(t0); // failed fast, no timeout spent
    // A request refused locally (bad payload) says nothing about the device: no breaker count.
    bus.refuseWrites = true;
    for (let k = 0; k < 5; k++) await expect(settle(clock, scheduler.write('p1', 'coil', 0, [1]), 1)).rejects.toMatchObject({ code: 'SW_ERR_PAYLOAD_INVALID' });
    expect(scheduler.stats().devices.p1).toMatchObject({ breaker: 'closed', consecutiveFailures: 0, availability: 'online' });
    await settle(clock, scheduler.stop());
    await expect(scheduler.write('p1', 'coil', 0, [1])).rejects.toMatchObject({ code: 'SW_ERR_TRANSPORT_CLOSED' });
  });

  it('reports undecodable values as bad and keeps polling; a throwing listener does not stop the bus', async () => {
    const floaty = profile('floaty', [
      { id: 'f', table: 'holding', address: 0, type: 'f32' },
      { id: 'g', table: 'holding', address: 2, type: 'u16' },
    ]);
    const clock = new ManualClock();
    const bus = new FakeModbusTransport(clock);
    bus.slave(1).tables.holding.set(0, 0x7fc0); // NaN
    bus.slave(1).tables.holding.set(2, 7);
    const seen: ValuesBatch[] = [];
    const scheduler = new BusScheduler({
      bus: 'bus1',
      transport: bus,
      polling: pollingSchema.parse({}),
      devices: [dev('d1', 1, floaty)],
      wire: { framing: 'rtu', baudRate: 9600 },
      clock,
      onValues: (v) => {
        seen.push(v);
        throw new Error('listener bug');
      },
      onStatus: () => {},
    });
    scheduler.start();
    await clock.advance(19_999);
    await settle(clock, scheduler.stop());
    expect(seen).toHaveLength(4); // every 5 s, despite the listener throwing
    expect(seen[0]).toMatchObject({ device: 'd1', values: { g: 7 }, bad: { f: 'not a finite number' }, pollClass: 'normal' });
  });

  it('stop() waits for the request in flight and detaches from the transport', async () => {
    const { clock, bus, scheduler } = harness([dev('p1', 1)]);
    expect(bus.listenerCount('state')).toBe(0);
    scheduler.start();
    expect(bus.listenerCount('state')).toBe(1);
    await clock.advance(bus.readMs('discrete', 2) / 2);
    expect(bus.inFlight).toBe(1);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await clock.advance(1);
    expect(stopped).toBe(false);
    await clock.advance(bus.readMs('discrete', 2));
    await stopping;
    expect(bus.inFlight).toBe(0);
    const n = bus.log.length;
    await clock.advance(10_000);
    expect(bus.log.length).toBe(n);
    expect(bus.listenerCount('state')).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps per-device counters, last response time and a response-time histogram', async () => {
    const { clock, bus, scheduler } = harness([dev('p1', 1)], {}, { baudRate: 9600, turnaroundMs: 12, timeoutMs: 300 });
    scheduler.start();
    await clock.advance(5000);
    await settle(clock, scheduler.stop());
    const s = scheduler.stats();
    const d = s.devices.p1!;
    expect(d.success).toBe(bus.log.length);
    expect(s.transactions).toBe(bus.log.length);
    expect(d.responseTime.count).toBe(d.success);
    // The histogram holds exactly the transaction durations the fake bus took.
    const bounds = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    const expected = new Array<number>(bounds.length + 1).fill(0);
    for (const t of bus.log) {
      const i = bounds.findIndex((b) => t.end - t.start <= b);
      expected[i === -1 ? bounds.length : i]!++;
    }
    expect(d.responseTime.counts).toEqual(expected);
    // With 12 ms turnaround: 2-bit alarm reads ~36 ms, the 4-register block ~44 ms, the 2-register ~40 ms.
    expect(expected[3]).toBe(d.success);
    expect(d.responseTime.sumMs).toBeCloseTo(bus.log.reduce((sum, t) => sum + t.end - t.start, 0), 1);
    expect(d.lastResponseMs).toBeCloseTo(bus.log[bus.log.length - 1]!.end - bus.log[bus.log.length - 1]!.start, 6);
    expect(d.lastResponseAt).toBe(bus.log[bus.log.length - 1]!.end);
  });

  it('reads through read() when the transport has no callback form, with the same values and timing', async () => {
    const run = async (promiseOnly: boolean) => {
      const h = harness([dev('p1', 1), dev('p2', 2)], {}, undefined, { promiseOnly });
      h.bus.slave(1).tables.input.set(0, 7);
      h.bus.slave(2).tables.discrete.set(0, 1);
      h.scheduler.start();
      await h.clock.advance(3000);
      await settle(h.clock, h.scheduler.stop());
      return { log: h.bus.log.map((t) => [t.unit, t.table, t.address, t.start, t.end]), values: h.values.map((v) => [v.device, v.ts, v.values]) };
    };
    const viaCallback = await run(false);
    const viaPromise = await run(true);
    expect(viaCallback.log.length).toBeGreaterThan(10);
    expect(viaPromise).toEqual(viaCallback);
    expect(viaCallback.values).toContainEqual(['p1', expect.any(Number), { call_state: 7, a1: 0, a2: 0, a3: 0 }]);
    expect(viaCallback.values).toContainEqual(['p2', expect.any(Number), { button: 'pressed', tamper: false }]);
  });

  it('a transport that throws instead of failing its read costs that read only; the bus keeps polling', async () => {
    const { clock, bus, scheduler, values } = harness([dev('p1', 1)]);
    let throws = 2;
    const readWith = bus.readWith!;
    bus.readWith = (...args) => {
      if (throws-- > 0) throw new Error('broken transport');
      readWith(...args);
    };
    scheduler.start();
    await clock.advance(3000);
    await settle(clock, scheduler.stop());
    expect(scheduler.stats().failures).toBe(2);
    expect(scheduler.stats().devices.p1!.breaker).toBe('closed');
    expect(values.length).toBeGreaterThan(5);
  });

  it('marks a read whose registers did not change as unchanged, with the values decoded before; any change is decoded afresh', async () => {
    const { clock, bus, scheduler, values } = harness([dev('p1', 1)]);
    const input = bus.slave(1).tables.input;
    input.set(0, 1);
    scheduler.start();
    await clock.advance(2500);
    input.set(0, 2);
    await clock.advance(2000);
    await settle(clock, scheduler.stop());
    const fast = values.filter((v) => 'call_state' in v.values);
    expect(fast.length).toBeGreaterThanOrEqual(4);
    // First read decoded; repeats flagged, with the same values object; the change decoded again.
    expect(fast[0]!.unchanged).toBeUndefined();
    expect(fast[1]).toMatchObject({ unchanged: true, values: { call_state: 1 } });
    expect(fast[1]!.values).toBe(fast[0]!.values);
    const changed = fast.findIndex((v) => v.values.call_state === 2);
    expect(changed).toBeGreaterThan(1);
    expect(fast[changed]!.unchanged).toBeUndefined();
    expect(fast[changed + 1]).toMatchObject({ unchanged: true, values: { call_state: 2 } });
  });

  it('always decodes a block with a decimalsFrom point (its scale may change while its registers do not)', async () => {
    const scaled = profile('scaled', [
      { id: 'dp', table: 'holding', address: 0, type: 'u16', poll: 'fast' },
      { id: 'v', table: 'holding', address: 1, type: 'u16', decimalsFrom: 'dp', poll: 'fast' },
    ]);
    const { clock, bus, scheduler, values } = harness([dev('s1', 1, scaled)]);
    bus.slave(1).tables.holding.set(0, 1);
    bus.slave(1).tables.holding.set(1, 123);
    scheduler.start();
    await clock.advance(3500);
    await settle(clock, scheduler.stop());
    expect(values.length).toBeGreaterThanOrEqual(3);
    for (const v of values) {
      expect(v.unchanged).toBeUndefined();
      expect(v.values).toEqual({ dp: 1, v: 12.3 });
    }
  });
});
