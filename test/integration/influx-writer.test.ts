/**
 * The InfluxDB sink against real servers started by the test: InfluxDB 1.6 (v1 /write, read
 * back with /query) and VictoriaMetrics (v2 /api/v2/write, read back with /api/v1/export).
 * Domain objects go through the event bus like in the gateway; what comes back must have the
 * right measurement, tags, fields and millisecond source timestamps. Bad data, bad credentials
 * and a slow server are each handled as docs/influx.md says.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { InfluxdServer, VictoriaMetricsServer } from '../helpers/influx-servers.js';
import { lockReading, makeSink, panicAlarm, passEvent, statusOf, until, type SinkKit } from '../helpers/influx-kit.js';

let influx: InfluxdServer;
let vm: VictoriaMetricsServer;
const kits: SinkKit[] = [];
const servers: Server[] = [];
let dbCount = 0;

async function freshDb(server: InfluxdServer = influx): Promise<string> {
  const db = `t${++dbCount}`;
  await server.createDatabase(db);
  return db;
}

function kit(...args: Parameters<typeof makeSink>): SinkKit {
  const k = makeSink(...args);
  kits.push(k);
  return k;
}

beforeAll(async () => {
  [influx, vm] = await Promise.all([InfluxdServer.start(), VictoriaMetricsServer.start(['-dedup.minScrapeInterval=1ms'])]);
});
afterEach(async () => {
  for (const k of kits.splice(0)) await k.dispose();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
afterAll(async () => {
  await Promise.all([influx?.dispose(), vm?.dispose()]);
});

/** A minute ago, on a whole second: well inside any retention, clear of "now". */
const base = Math.floor((Date.now() - 60_000) / 1000) * 1000;

/** The same village moment for both servers: readings, a pass, an alarm's lifecycle, status. */
function emitVillage(bus: EventBus): void {
  bus.emit('points', { device: 'lock-1', points: lockReading('lock-1', 7, base) });
  // A reading with a device timestamp: the source time is what gets stored.
  bus.emit('points', {
    device: 'lock-2',
    points: [{ device: 'lock-2', point: 'battery', value: 3.3, quality: 'good', ts: base + 900, sourceTs: base + 500 }],
  });
  bus.emit('points', {
    device: 'pole-1',
    points: [{ device: 'pole-1', point: 'self_test_fault', value: { speaker: true, power: false }, quality: 'good', ts: base + 10 }],
  });
  bus.emit('event', passEvent('lock-1', 4, base + 20));
  bus.emit('alarm', panicAlarm('pole-1', 1, base + 30));
  bus.emit('alarm', { ...panicAlarm('pole-1', 1, base + 30, 'delivered'), updatedAt: base + 45 });
  bus.emit('status', statusOf('lock-3', false, base + 40, 'timeout'));
  bus.emit('status', statusOf('lock-3', true, base + 50));
}

describe('influx writer: v1 into InfluxDB 1.6', () => {
  it('points, access events, alarms and status come back with their tags, fields and timestamps', async () => {
    const db = await freshDb();
    const k = kit({ api: 'v1', url: influx.url, v1: { db }, batch: { size: 5000, intervalMs: 50 } });
    const bus = new EventBus();
    k.sink.attach(bus);
    k.sink.start();
    emitVillage(bus);
    await k.sink.drained(5000);

    const locks = await influx.select('SELECT * FROM door_lock GROUP BY *', db);
    expect(locks).toEqual([
      {
        building: 'B2', device: 'lock-1', profile: 'generic-rs485-fingerprint-lock', room: '101', site: 'v1',
        time: base, battery: 3.07, bolt: 'locked', door: 'open', event_seq: 7,
      },
      {
        building: 'B3', device: 'lock-2', profile: 'generic-rs485-fingerprint-lock', room: '102', site: 'v1',
        time: base + 500, battery: 3.3, bolt: null, door: null, event_seq: null,
      },
    ]);
    const poles = await influx.select('SELECT * FROM alarm_pole GROUP BY *', db);
    expect(poles).toEqual([
      { building: 'B1', device: 'pole-1', profile: 'generic-alarm-pole', site: 'v1', time: base + 10, 'self_test_fault.power': false, 'self_test_fault.speaker': true },
    ]);
    const passes = await influx.select('SELECT * FROM access_event GROUP BY *', db);
    expect(passes).toEqual([
      {
        building: 'B2', device: 'lock-1', event: 'pass', profile: 'generic-rs485-fingerprint-lock', room: '101', site: 'v1',
        time: base + 20, id: 'pass-lock-1-4', last_method: 'fingerprint', last_result: 'granted', last_user: 4,
      },
    ]);
    const alarms = await influx.select('SELECT * FROM alarm GROUP BY * ORDER BY time', db);
    expect(alarms.map((a) => [a.state, a.time, a.id, a.cid, a.sia, a.severity, a.rule, a.latch, a.raised_at])).toEqual([
      ['delivered', base + 45, 'alarm-pole-1-1', 120, 'PA', 'emergency', 'panic', true, base + 30],
      ['raised', base + 30, 'alarm-pole-1-1', 120, 'PA', 'emergency', 'panic', true, base + 30],
    ]);
    const status = await influx.select('SELECT online, reason, consecutive_failures FROM device_status WHERE device = \'lock-3\'', db);
    expect(status).toEqual([
      { time: base + 40, online: 0, reason: 'timeout', consecutive_failures: 3 },
      { time: base + 50, online: 1, reason: null, consecutive_failures: 0 },
    ]);
    const stats = k.sink.stats();
    expect(stats).toMatchObject({ enabled: true, written: 8, dropped: { total: 0 }, connection: { state: 'up' }, lagMs: 0 });
  });

  it('drops a bad line and records it while the rest of the batch lands', async () => {
    const db = await freshDb();
    const k = kit({ api: 'v1', url: influx.url, v1: { db }, batch: { size: 200, intervalMs: 5000 } });
    k.sink.start();
    const points = Array.from({ length: 200 }, (_, i) => ({ measurement: 'probe', tags: { n: String(i % 4) }, fields: { v: i } as Record<string, number | string>, ts: base + i }));
    // A timestamp InfluxDB cannot store (it quotes the line back: found without bisecting)...
    points[57]!.ts = 1e17;
    // ...and a field type conflict (InfluxDB names no line: found by bisecting).
    points[120]!.fields = { v: 'not a number' };
    k.sink.writePoints(points);
    await k.sink.drained(5000);

    expect(await influx.count('v', 'probe', db)).toBe(198);
    const present = new Set((await influx.select('SELECT v FROM probe', db)).map((r) => r.v));
    expect(present.has(57)).toBe(false);
    expect(present.has(120)).toBe(false);
    expect(present.has(119) && present.has(121) && present.has(0) && present.has(199)).toBe(true);
    const stats = k.sink.stats();
    if (!stats.enabled) throw new Error('sink disabled');
    expect(stats.dropped).toMatchObject({ badData: 2, overflow: 0, total: 2 });
    expect(stats.written).toBe(198);
    expect(stats.lastBadLine?.status).toBe(400);
    const logged = k.logs.filter((r) => r.msg.includes('bad data'));
    expect(logged.map((r) => r.line).sort()).toEqual(
      [`probe,n=0,site=v1 v="not a number" ${base + 120}`, 'probe,n=1,site=v1 v=57 100000000000000000'].sort(),
    );
    expect(logged.find((r) => String(r.line).includes('v=57'))?.reason).toMatch(/time outside range/);
    expect(logged.find((r) => String(r.line).includes('not a number'))?.reason).toMatch(/field type conflict/);
  });

  it('an auth failure gives a clear error naming influx.v1.username/password and keeps spooling', async () => {
    const secured = await InfluxdServer.start({ auth: { username: 'admin', password: 'right-password' } });
    try {
      const db = await freshDb(secured);
      const config = { api: 'v1' as const, url: secured.url, v1: { db, username: 'admin', password: 'wrong-password' }, batch: { size: 100, intervalMs: 30 }, retry: { initialMs: 5000, maxMs: 5000 } };
      const k = kit(config);
      k.sink.start();
      k.sink.writePoints(Array.from({ length: 150 }, (_, i) => ({ measurement: 'probe', fields: { v: i }, ts: base + i })));
      const stats = await until(() => {
        const s = k.sink.stats();
        return s.enabled && s.connection.state === 'blocked' && s.spool.points === 150 && s.memory.batching === 0 ? s : undefined;
      }, 5000, 'the sink to be blocked with everything spooled');
      expect(stats.connection.setting).toBe('influx.v1.username/password');
      expect(stats.lastError?.message).toMatch(/InfluxDB refused user "admin" \(HTTP 401 .*authorization failed\): check influx\.v1\.username \/ influx\.v1\.password/);
      expect(stats.written).toBe(0);
      expect(stats.dropped.total).toBe(0);
      const err = k.logs.find((r) => r.level === 50 && r.setting === 'influx.v1.username/password');
      expect(err?.msg).toMatch(/influx write refused: .*influx\.v1\.username/);
      // The installer fixes the password: the same store replays everything.
      await k.close();
      const fixed = kit({ ...config, v1: { ...config.v1, password: 'right-password' } }, { dir: k.dir });
      fixed.sink.start();
      await fixed.sink.drained(5000);
      expect(await secured.count('v', 'probe', db)).toBe(150);
    } finally {
      await secured.dispose();
    }
  });

  it('a slow server times out, is retried with backoff, and everything lands', async () => {
    const db = await freshDb();
    // A real HTTP proxy in front of influxd that answers too late for the first second.
    const slowUntil = Date.now() + 1000;
    const target = new URL(influx.url);
    let slowRequests = 0;
    const proxy = createServer((req, res) => {
      const forward = () => {
        const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      };
      if (Date.now() < slowUntil) {
        slowRequests += 1;
        setTimeout(forward, 1500);
      } else forward();
    });
    servers.push(proxy);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const k = kit({ api: 'v1', url, v1: { db }, batch: { size: 100, intervalMs: 20 }, timeoutMs: 300, retry: { initialMs: 200, maxMs: 400 } });
    k.sink.start();
    k.sink.writePoints(Array.from({ length: 300 }, (_, i) => ({ measurement: 'probe', fields: { v: i }, ts: base + i })));
    await k.sink.drained(10_000);
    expect(slowRequests).toBeGreaterThan(0);
    const stats = k.sink.stats();
    if (!stats.enabled) throw new Error('sink disabled');
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.lastError?.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+ within 300 ms/);
    expect(stats.connection.state).toBe('up');
    expect(await influx.count('v', 'probe', db)).toBe(300);
  });
});

describe('influx writer: v2 into VictoriaMetrics', () => {
  it('points, access events, alarms and status come back with their labels, values and timestamps', async () => {
    const k = kit({ api: 'v2', url: vm.url, v2: { org: 'village', bucket: 'shouwang', token: 'any-token' }, batch: { size: 5000, intervalMs: 50 } });
    const bus = new EventBus();
    k.sink.attach(bus);
    k.sink.start();
    emitVillage(bus);
    // The same moment again, as a replay would send it: deduplicated, not doubled.
    emitVillage(bus);
    await k.sink.drained(5000);
    expect(k.sink.stats()).toMatchObject({ written: 16, dropped: { total: 0 } });

    const lockLabels = { building: 'B2', device: 'lock-1', profile: 'generic-rs485-fingerprint-lock', room: '101', site: 'v1' };
    const series = await vm.waitExport('{__name__=~"door_lock_.*|alarm_pole_.*|access_event_.*|alarm_.*|device_status_.*"}', (s) => s.length >= 12);
    const find = (name: string, labels: Record<string, string> = {}) =>
      series.filter((s) => s.metric.__name__ === name && Object.entries(labels).every(([k2, v]) => s.metric[k2] === v));
    const one = (name: string, labels: Record<string, string> = {}) => {
      const found = find(name, labels);
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0]!;
    };
    expect(one('door_lock_battery', { device: 'lock-1' })).toEqual({ metric: { __name__: 'door_lock_battery', ...lockLabels }, values: [3.07], timestamps: [base] });
    expect(one('door_lock_event_seq', { device: 'lock-1' })).toMatchObject({ values: [7], timestamps: [base] });
    expect(one('door_lock_battery', { device: 'lock-2' })).toMatchObject({ values: [3.3], timestamps: [base + 500] });
    expect(one('alarm_pole_self_test_fault.speaker')).toMatchObject({ metric: { device: 'pole-1', building: 'B1' }, values: [1], timestamps: [base + 10] });
    expect(one('alarm_pole_self_test_fault.power')).toMatchObject({ values: [0], timestamps: [base + 10] });
    expect(one('access_event_last_user')).toMatchObject({ metric: { ...lockLabels, event: 'pass' }, values: [4], timestamps: [base + 20] });
    expect(one('alarm_cid', { state: 'raised' })).toMatchObject({
      metric: { device: 'pole-1', rule: 'panic', severity: 'emergency', kind: 'alarm', site: 'v1' },
      values: [120],
      timestamps: [base + 30],
    });
    expect(one('alarm_cid', { state: 'delivered' })).toMatchObject({ values: [120], timestamps: [base + 45] });
    expect(one('device_status_online', { device: 'lock-3' })).toMatchObject({ values: [0, 1], timestamps: [base + 40, base + 50] });
  });
});
