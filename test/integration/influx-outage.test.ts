/**
 * InfluxDB outages against a real InfluxDB 1.6 that the test stops and starts by PID:
 *   - down under load (2,500 points/s): everything is spooled, replayed oldest first once it is
 *     back, and every point is there exactly once;
 *   - spool overflow: the oldest telemetry is dropped, alarms and access events never, and every
 *     drop is counted;
 *   - a replay that overlaps points already written makes no duplicates.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { InfluxdServer } from '../helpers/influx-servers.js';
import { lockReading, makeSink, panicAlarm, passEvent, sleep, until, type SinkKit } from '../helpers/influx-kit.js';

let influx: InfluxdServer;
const kits: SinkKit[] = [];
let dbCount = 0;

async function freshDb(): Promise<string> {
  const db = `o${++dbCount}`;
  await influx.createDatabase(db);
  return db;
}

beforeAll(async () => {
  influx = await InfluxdServer.start();
});
afterEach(async () => {
  for (const k of kits.splice(0)) await k.dispose();
  await influx.restart();
});
afterAll(async () => {
  await influx?.dispose();
});

const base = Math.floor((Date.now() - 10 * 60_000) / 1000) * 1000;

function kit(...args: Parameters<typeof makeSink>): SinkKit {
  const k = makeSink(...args);
  kits.push(k);
  return k;
}

function enabledStats(k: SinkKit) {
  const s = k.sink.stats();
  if (!s.enabled) throw new Error('sink disabled');
  return s;
}

describe('influx outages', () => {
  it('server down under load: spooled, replayed in order once back, every point there exactly once', async () => {
    const db = await freshDb();
    const k = kit({ api: 'v1', url: influx.url, v1: { db }, batch: { size: 500, intervalMs: 100 }, retry: { initialMs: 100, maxMs: 400 }, timeoutMs: 2000 });
    const bus = new EventBus();
    k.sink.attach(bus);
    k.sink.start();

    // 25 locks, one reading each every 10 ms: 2,500 lines/s, 4 fields each.
    const LOCKS = 25;
    let tick = 0;
    const started = Date.now();
    const load = setInterval(() => {
      // Catch up if the timer was late, so the rate holds.
      const due = Math.floor((Date.now() - started) / 10);
      for (; tick < due; tick++) {
        for (let d = 0; d < LOCKS; d++) bus.emit('points', { device: `lock-${d}`, points: lockReading(`lock-${d}`, tick * LOCKS + d, base + tick) });
      }
    }, 10);
    try {
      await sleep(1500);
      await influx.stop();
      const down = { tick, at: Date.now() };
      await sleep(2500);
      const midOutage = enabledStats(k);
      expect(midOutage.connection.state).toBe('down');
      expect(midOutage.spool.points).toBeGreaterThan(2000);
      // At least 2,000 points/s while the server was down.
      expect(((tick - down.tick) * LOCKS) / ((Date.now() - down.at) / 1000)).toBeGreaterThanOrEqual(2000);
      await influx.restart();
      await sleep(1500);
    } finally {
      clearInterval(load);
    }
    const total = tick * LOCKS;
    await k.sink.drained(15_000);
    const elapsedS = (Date.now() - started) / 1000;

    expect(await influx.count('event_seq', 'door_lock', db)).toBe(total);
    // Spot checks: one lock's whole history, and single readings with all their fields.
    const lock7 = await influx.select(`SELECT event_seq FROM door_lock WHERE device = 'lock-7'`, db);
    expect(lock7.map((r) => r.event_seq)).toEqual(Array.from({ length: tick }, (_, t) => t * LOCKS + 7));
    for (const t of [0, Math.floor(tick / 2), tick - 1]) {
      const [row] = await influx.select(`SELECT * FROM door_lock WHERE device = 'lock-3' AND time = ${base + t}ms`, db);
      const seq = t * LOCKS + 3;
      expect(row).toMatchObject({ time: base + t, event_seq: seq, door: seq % 2 === 0 ? 'closed' : 'open', bolt: seq % 3 === 0 ? 'unlocked' : 'locked', battery: 3 + (seq % 100) / 100 });
    }

    const stats = enabledStats(k);
    expect(stats.written).toBeGreaterThanOrEqual(total);
    expect(stats.replayed).toBeGreaterThan(2000);
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.dropped.total).toBe(0);
    expect(stats.spool).toMatchObject({ rows: 0, points: 0 });
    expect(stats.connection.state).toBe('up');
    // Replay order: successful deliveries cover batch numbers in order, spool first, oldest first.
    const delivered = k.reports.filter((r) => r.ok).flatMap((r) => r.seqs);
    expect(delivered).toEqual([...delivered].sort((a, b) => a - b));
    expect(k.reports.some((r) => r.source === 'spool' && r.ok)).toBe(true);
    expect(k.logs.some((r) => r.msg.includes('unreachable; spooling'))).toBe(true);
    expect(k.logs.some((r) => r.msg.includes('reachable again'))).toBe(true);
    console.log(`outage test: ${total} readings in ${elapsedS.toFixed(1)} s, ${stats.replayed} replayed from the spool, ${stats.retries} retries`);
  });

  it('spool overflow drops the oldest telemetry, keeps alarms and access events, and counts every drop', async () => {
    const db = await freshDb();
    await influx.stop();
    const maxBytes = 16 * 1024;
    const k = kit({ api: 'v1', url: influx.url, v1: { db }, batch: { size: 50, intervalMs: 20 }, retry: { initialMs: 100, maxMs: 200 }, spool: { maxBytes } });
    const bus = new EventBus();
    k.sink.attach(bus);
    k.sink.start();
    const TELEMETRY = 1200;
    let alarms = 0;
    let passes = 0;
    for (let i = 0; i < TELEMETRY; i++) {
      k.sink.writePoints([{ measurement: 'probe', tags: { n: String(i % 5) }, fields: { seq: i, padding: 'x'.repeat(20) }, ts: base + i }]);
      if (i % 100 === 50) {
        bus.emit('alarm', panicAlarm('pole-1', alarms, base + i));
        bus.emit('event', passEvent('lock-1', passes, base + i));
        alarms += 1;
        passes += 1;
      }
      // Let batches close on their interval too.
      if (i % 100 === 99) await sleep(5);
    }
    k.sink.flush();
    const spooled = await until(() => {
      const s = enabledStats(k);
      return s.memory.batching + s.memory.queued + s.memory.inFlight === 0 && s.spool.points > 0 ? s : undefined;
    }, 5000, 'everything in the spool');
    const dropped = spooled.dropped.overflow;
    expect(dropped).toBeGreaterThan(0);
    expect(spooled.dropped).toMatchObject({ badData: 0, total: dropped, overflowByClass: { telemetry: dropped, alarm: 0, access: 0 } });
    expect(spooled.spool.byClass.alarm.points).toBe(alarms);
    expect(spooled.spool.byClass.access.points).toBe(passes);
    expect(spooled.spool.byClass.telemetry.points).toBe(TELEMETRY - dropped);
    expect(spooled.spool.bytes).toBeLessThanOrEqual(maxBytes);
    expect(k.logs.some((r) => r.level === 40 && r.msg.includes('spool full'))).toBe(true);

    await influx.restart();
    await k.sink.drained(10_000);
    const seqs = (await influx.select('SELECT seq FROM probe', db)).map((r) => Number(r.seq)).sort((a, b) => a - b);
    // Exactly the newest telemetry survived: the oldest `dropped` readings are the ones missing.
    expect(seqs).toEqual(Array.from({ length: TELEMETRY - dropped }, (_, i) => dropped + i));
    expect(await influx.count('id', 'alarm', db)).toBe(alarms);
    expect(await influx.count('id', 'access_event', db)).toBe(passes);
  });

  it('a replay that overlaps points already written creates no duplicates', async () => {
    const db = await freshDb();
    const k = kit({ api: 'v1', url: influx.url, v1: { db }, batch: { size: 200, intervalMs: 20 }, retry: { initialMs: 100, maxMs: 200 } });
    const bus = new EventBus();
    k.sink.attach(bus);
    k.sink.start();
    const emit = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        bus.emit('points', { device: `lock-${i % 10}`, points: lockReading(`lock-${i % 10}`, i, base + i) });
        if (i % 50 === 0) bus.emit('event', passEvent(`lock-${i % 10}`, i, base + i));
      }
    };
    emit(0, 1000);
    await k.sink.drained(5000);
    expect(await influx.count('event_seq', 'door_lock', db)).toBe(1000);

    // The server goes away; readings 500..1499 are spooled (500..999 were written already).
    await influx.stop();
    emit(500, 1500);
    k.sink.flush();
    await until(() => enabledStats(k).spool.points >= 1000 + 20, 5000, 'the overlap in the spool');
    await influx.restart();
    await k.sink.drained(10_000);
    expect(await influx.count('event_seq', 'door_lock', db)).toBe(1500);
    expect(await influx.count('id', 'access_event', db)).toBe(30);

    // And the whole history once more, as a gateway restored from a backup would send it.
    emit(0, 1500);
    await k.sink.drained(5000);
    expect(await influx.count('event_seq', 'door_lock', db)).toBe(1500);
    expect(await influx.count('id', 'access_event', db)).toBe(30);
    const rows = await influx.select(`SELECT * FROM door_lock WHERE event_seq = 700`, db);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ time: base + 700, event_seq: 700, device: 'lock-0' });
  });
});
