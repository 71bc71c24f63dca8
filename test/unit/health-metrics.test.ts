/**
 * The health service on fake inputs and a fake clock: snapshot numbers (poll health, bus
 * utilisation, rates), the Prometheus exposition (names, types, labels, histogram buckets),
 * the InfluxDB points and the retained MQTT message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../gateway/src/core/event-bus.js';
import { HealthService, type HealthDevice } from '../../gateway/src/health/health-service.js';
import type { AlarmPathStats, BrokerStatsInput, BusStatsInput, InfluxStatsInput } from '../../gateway/src/health/health-snapshot.js';
import { wireUtilisation } from '../../gateway/src/health/bus-utilisation.js';
import { CounterWindow } from '../../gateway/src/health/counter-window.js';
import { pollErrors, quantileUpperBoundMs } from '../../gateway/src/health/poll-health.js';
import { ProcessMonitor } from '../../gateway/src/health/process-monitor.js';
import type { HealthPoint } from '../../gateway/src/health/health-points.js';
import { silentLogger } from '../../gateway/src/log.js';
import { ResponseTimeHistogram } from '../../gateway/src/polling/histogram.js';
import type { DevicePollStats } from '../../gateway/src/polling/types.js';
import { Topics } from '../../gateway/src/sinks/mqtt/topics.js';
import type { TransportStats } from '../../gateway/src/transport/types.js';
import { parsePromText, sampleOf } from './health-prom-text.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const H = 3_600_000;

function devicePoll(device: string, over: Partial<DevicePollStats> = {}, times: number[] = []): DevicePollStats {
  const h = new ResponseTimeHistogram();
  for (const t of times) h.record(t);
  return { device, availability: 'online', success: 0, failures: 0, exceptions: 0, timeouts: 0, crcErrors: 0, frameErrors: 0, consecutiveFailures: 0, breaker: 'closed', breakerTrips: 0, responseTime: h.snapshot(), ...over };
}

function transport(over: Partial<TransportStats> = {}): TransportStats {
  return { requests: 0, responses: 0, timeouts: 0, crcErrors: 0, frameErrors: 0, exceptions: 0, reopens: 0, wireMs: 0, ...over };
}

function busStats(bus: string, devices: DevicePollStats[], t: TransportStats): BusStatsInput {
  return {
    poll: {
      bus,
      transactions: t.requests,
      reads: t.requests,
      writes: 0,
      failures: devices.reduce((n, d) => n + d.failures, 0),
      exceptions: 0,
      queueDepth: 2,
      queueHighWater: 5,
      queueLimit: 512,
      dropped: 0,
      coalesced: 0,
      skipped: 0,
      sweeps: 0,
      pushes: 0,
      devices: Object.fromEntries(devices.map((d) => [d.device, d])),
    },
    transport: t,
  };
}

const DEVICES: HealthDevice[] = [
  { id: 'lock-1', profile: 'generic-rs485-fingerprint-lock', kind: 'door-lock', location: { building: 'A', room: '101' }, bus: 'rs485' },
  { id: 'pole-1', profile: 'generic-alarm-pole', kind: 'alarm-pole', location: { building: 'lane', room: 'gate' }, bus: 'rs485' },
  { id: 'pole-tcp', profile: 'generic-alarm-pole', kind: 'alarm-pole', location: { building: 'lane' }, bus: 'lan' },
  { id: 'door-mqtt', profile: 'generic-mqtt-door-sensor', kind: 'door-contact', location: {} },
];

class Rig {
  t = T0;
  bus = new EventBus();
  rs485 = transport();
  lan = transport();
  lock = devicePoll('lock-1', { success: 90, failures: 10, exceptions: 2, breakerTrips: 1 }, [3, 8, 8, 15, 40, 40, 40, 40, 40, 6000]);
  pole = devicePoll('pole-1', { success: 50 }, [4]);
  poleTcp = devicePoll('pole-tcp', { success: 10 });
  broker: BrokerStatsInput = { clients: 3, messagesIn: 0, messagesOut: 0 };
  influx: InfluxStatsInput = { spoolDepth: 1234, lagMs: 4500, written: 100_000, dropped: 7 };
  alarmPath: AlarmPathStats = { pending: 2, delivered: 40, oldestPendingMs: 3000, accountsActive: 1, escalations: 0, paths: [{ path: 'police', type: 'dc09', up: true, since: T0 }] };
  /** app.ts builds the buses after the health service has started. */
  busesBuilt = true;
  published: Array<{ topic: string; payload: string }> = [];
  written: HealthPoint[][] = [];
  service: HealthService;

  constructor(extra: { influx?: boolean } = {}) {
    this.service = new HealthService({
      site: 'v1',
      devices: DEVICES,
      buses: [
        { id: 'rs485', type: 'rtu', baudRate: 9600 },
        { id: 'lan', type: 'tcp' },
      ],
      bus: this.bus,
      busStats: () => (this.busesBuilt ? [busStats('rs485', [this.lock, this.pole], this.rs485), busStats('lan', [this.poleTcp], this.lan)] : []),
      forwardingStats: () => this.alarmPath,
      brokerStats: () => this.broker,
      ...(extra.influx === false ? {} : { influxStats: () => this.influx }),
      publish: async (topic, payload) => {
        this.published.push({ topic, payload });
      },
      writePoints: (points) => void this.written.push(points),
      log: silentLogger(),
      now: () => this.t,
      intervalMs: 3_600_000,
      processMetrics: extra.influx !== false,
    });
  }
  status(device: string, availability: 'online' | 'offline'): void {
    this.bus.emit('status', { device, availability, since: this.t, consecutiveFailures: 0 });
  }
}

let rig: Rig | undefined;
afterEach(() => {
  rig?.service.stop();
  rig = undefined;
});

describe('pure pieces', () => {
  it('wire utilisation counts frames plus one t3.5 silence per frame, like the bus-efficiency bench', () => {
    const t35 = (3.5 * 11 * 1000) / 9600;
    expect(wireUtilisation({ wireMs: 500, requests: 100, responses: 100 }, 10_000, 9600)).toBeCloseTo((500 + 200 * t35) / 10_000, 12);
    // Above 19200 baud the silence is fixed at 1.75 ms.
    expect(wireUtilisation({ wireMs: 100, requests: 10, responses: 9 }, 1000, 115200)).toBeCloseTo((100 + 19 * 1.75) / 1000, 12);
    expect(wireUtilisation({ wireMs: 100, requests: 10, responses: 10 }, 1000, undefined)).toBeUndefined();
    expect(wireUtilisation({ wireMs: 100, requests: 10, responses: 10 }, 0, 9600)).toBeUndefined();
  });

  it('counter windows average over about one span and survive a counter reset', () => {
    const w = new CounterWindow<'n'>(10_000);
    expect(w.delta(0, { n: 5 })).toBeUndefined();
    for (let t = 0; t <= 30_000; t += 5000) w.add(t, { n: t / 100 });
    // Baseline: the newest sample at least one span old (t = 20 s).
    expect(w.delta(32_000, { n: 320 })).toEqual({ elapsedMs: 12_000, d: { n: 120 } });
    expect(w.delta(32_000, { n: 10 })).toEqual({ elapsedMs: 12_000, d: { n: 10 } });
  });

  it('poll errors add up to the failures; what is neither an exception, a timeout, a CRC nor a frame error is noAnswer', () => {
    expect(pollErrors(devicePoll('a', { failures: 10, exceptions: 3 }))).toEqual({ exception: 3, timeout: 0, crc: 0, frame: 0, noAnswer: 7 });
    const detailed = devicePoll('a', { failures: 10, exceptions: 3, timeouts: 4, crcErrors: 1, frameErrors: 1 });
    expect(pollErrors(detailed)).toEqual({ exception: 3, timeout: 4, crc: 1, frame: 1, noAnswer: 1 });
  });

  it('quantile upper bounds from the histogram', () => {
    const h = new ResponseTimeHistogram();
    for (const v of [1, 2, 3, 4, 30, 30, 30, 30, 30, 9000]) h.record(v);
    expect(quantileUpperBoundMs(h.snapshot(), 0.4)).toBe(5);
    expect(quantileUpperBoundMs(h.snapshot(), 0.5)).toBe(50);
    expect(quantileUpperBoundMs(h.snapshot(), 0.95)).toBeNull(); // above the last bucket
    expect(quantileUpperBoundMs(new ResponseTimeHistogram().snapshot(), 0.5)).toBeNull();
  });

  it('event-loop lag: a blocked loop shows, the timer period does not', async () => {
    const m = new ProcessMonitor(10);
    m.start();
    try {
      await new Promise((r) => setTimeout(r, 100));
      m.roll();
      const idle = m.read().eventLoopLag;
      expect(idle.meanMs).toBeLessThan(10); // not the 10 ms period itself
      // (The monitor measures from its first firing after a roll.)
      await new Promise((r) => setTimeout(r, 50));
      const until = performance.now() + 150;
      while (performance.now() < until); // block the loop
      await new Promise((r) => setTimeout(r, 50));
      m.roll();
      const blocked = m.read().eventLoopLag;
      expect(blocked.maxMs).toBeGreaterThan(100);
      expect(blocked.maxMs).toBeLessThan(1000);
    } finally {
      m.stop();
    }
  });

  it('the retained health topic', () => {
    expect(new Topics({ prefix: 'shouwang', site: 'v1' }).gatewayHealth()).toBe('shouwang/v1/gateway/health');
    // A gateway output: no client may publish on it (the ACL refuses gateway-owned kinds).
    expect(new Topics({ prefix: 'shouwang', site: 'v1' }).parse('shouwang/v1/gateway/health')).toEqual({ kind: 'gateway-output' });
  });
});

describe('HealthService snapshot', () => {
  it('online rates per device and rolled up, poll health, buses, process numbers', () => {
    rig = new Rig();
    const r = rig;
    r.service.start();
    r.t += S;
    r.status('lock-1', 'online');
    r.status('pole-1', 'online');
    r.status('pole-tcp', 'online');
    r.t += 2 * H - S;
    r.status('lock-1', 'offline');
    r.t += H;
    r.rs485 = transport({ requests: 10_000, responses: 9_990, timeouts: 10, crcErrors: 3, wireMs: 200_000 });
    r.broker = { ...r.broker, messagesIn: 300, messagesOut: 9000 };
    const s = r.service.snapshot();

    const lock = s.devices.find((d) => d.device === 'lock-1')!;
    expect(lock.availability).toBe('offline');
    expect(lock.online['24h']).toEqual({ onlineMs: 2 * H - S, observedMs: 3 * H, ratio: (2 * H - S) / (3 * H) });
    expect(lock.online['1h']!.ratio).toBe(0);
    expect(lock.poll).toMatchObject({ success: 90, failures: 10, successRatio: 0.9, errors: { exception: 2, noAnswer: 8 }, breakerTrips: 1 });
    expect(lock.poll!.responseTime).toMatchObject({ count: 10, p50UpperMs: 50, p95UpperMs: null });
    // The MQTT device never connected: never seen, so offline in every figure, and no poll block.
    const door = s.devices.find((d) => d.device === 'door-mqtt')!;
    expect(door).toMatchObject({ availability: 'unknown', online: { '24h': { onlineMs: 0, observedMs: 3 * H, ratio: 0 } } });
    expect(door.poll).toBeUndefined();

    const day = s.online.find((w) => w.window === '24h')!;
    expect(day.site.ratio).toBeCloseTo((2 * H - S + 2 * (3 * H - S)) / (4 * 3 * H), 12);
    expect(day.buildings.lane!.ratio).toBeCloseTo((3 * H - S) / (3 * H), 12);
    expect(day.kinds['door-contact']!.ratio).toBe(0);
    expect(s.deviceCounts).toEqual({ total: 4, online: 2, offline: 1, unknown: 1 });

    const rs485 = s.buses.find((b) => b.bus === 'rs485')!;
    const t35 = (3.5 * 11 * 1000) / 9600;
    expect(rs485.utilisation).toBeCloseTo((200_000 + 19_990 * t35) / (3 * H), 12);
    expect(rs485.transactionsPerS).toBeCloseTo(10_000 / (3 * 3600), 12);
    expect(rs485).toMatchObject({ timeouts: 10, crcErrors: 3, devices: 2, devicesOnline: 1, baudRate: 9600 });
    expect(s.buses.find((b) => b.bus === 'lan')!.utilisation).toBeNull();

    expect(s.outbox).toEqual({ depth: 2, delivered: 40, oldestPendingMs: 3000, escalations: 0 });
    expect(s.alarmPath.paths[0]!.path).toBe('police');
    expect(s.spool).toEqual(r.influx);
    expect(s.broker).toMatchObject({ clients: 3, messagesIn: 300, messagesOut: 9000 });
    expect(s.broker.outPerS).toBeCloseTo(9000 / (3 * 3600), 9);
    expect(s.process.rssBytes).toBeGreaterThan(0);
  });

  it('a bus built after start() gets a utilisation from the snapshot after its first one', () => {
    rig = new Rig();
    const r = rig;
    r.busesBuilt = false;
    r.service.start();
    r.t += 5 * S;
    r.busesBuilt = true;
    r.rs485 = transport({ requests: 100, responses: 100, wireMs: 1000 });
    expect(r.service.snapshot().buses.find((b) => b.bus === 'rs485')!.utilisation).toBeNull();
    r.t += 10 * S;
    r.rs485 = transport({ requests: 300, responses: 300, wireMs: 3000 });
    const t35 = (3.5 * 11 * 1000) / 9600;
    expect(r.service.snapshot().buses.find((b) => b.bus === 'rs485')!.utilisation).toBeCloseTo((2000 + 400 * t35) / (10 * S), 12);
  });

  it('a tick publishes the summary and writes gateway, device and bus points', async () => {
    rig = new Rig();
    const r = rig;
    r.service.start();
    r.t += 10 * S;
    r.status('pole-1', 'online');
    r.t += 10 * S;
    await r.service.tick();
    expect(r.published).toHaveLength(1);
    expect(r.published[0]!.topic).toBe('shouwang/v1/gateway/health');
    const summary = JSON.parse(r.published[0]!.payload) as Record<string, unknown>;
    expect(summary).toMatchObject({ site: 'v1', deviceCounts: { total: 4, online: 1 }, outbox: { depth: 2 }, spool: { spoolDepth: 1234 } });
    expect(summary.devices).toBeUndefined();

    const points = r.written[0]!;
    const gw = points.filter((p) => p.measurement === 'gateway_health');
    expect(gw).toHaveLength(1);
    expect(gw[0]!.fields).toMatchObject({ online_ratio_24h: 0.125, online_ratio_1h: 0.125, outbox_depth: 2, spool_depth: 1234, influx_lag_ms: 4500, mqtt_clients: 3 });
    const pole = points.find((p) => p.measurement === 'device_health' && p.tags.device === 'pole-1')!;
    expect(pole.tags).toEqual({ site: 'v1', building: 'lane', room: 'gate', device: 'pole-1', profile: 'generic-alarm-pole', kind: 'alarm-pole', bus: 'rs485' });
    expect(pole.fields).toMatchObject({ online: 1, online_ratio_24h: 0.5, poll_success: 50 });
    expect(points.find((p) => p.tags.device === 'door-mqtt')!.tags.building).toBe('-');
    expect(points.filter((p) => p.measurement === 'bus_health').map((p) => p.tags.bus)).toEqual(['rs485', 'lan']);
    for (const p of points) {
      expect(p.ts).toBe(r.t);
      for (const v of Object.values(p.fields)) expect(Number.isFinite(v)).toBe(true);
    }
  });
});

describe('/metrics exposition', () => {
  it('well-formed text with the documented names, types and labels', async () => {
    rig = new Rig();
    const r = rig;
    r.service.start();
    r.t += S;
    r.status('lock-1', 'online');
    r.t += H;
    r.status('lock-1', 'offline');
    r.t += H;
    r.rs485 = transport({ requests: 1000, responses: 990, timeouts: 6, crcErrors: 4, wireMs: 20_000 });
    r.broker = { ...r.broker, messagesIn: 12, messagesOut: 345 };
    expect(r.service.metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await r.service.metrics.scrape();
    const f = parsePromText(text);

    const types: Record<string, string> = {
      shouwang_device_online: 'gauge',
      shouwang_device_online_ratio: 'gauge',
      shouwang_site_online_ratio: 'gauge',
      shouwang_building_online_ratio: 'gauge',
      shouwang_kind_online_ratio: 'gauge',
      shouwang_poll_duration_seconds: 'histogram',
      shouwang_poll_errors_total: 'counter',
      shouwang_poll_requests_total: 'counter',
      shouwang_breaker_trips_total: 'counter',
      shouwang_bus_utilisation_ratio: 'gauge',
      shouwang_bus_errors_total: 'counter',
      shouwang_outbox_depth: 'gauge',
      shouwang_spool_depth: 'gauge',
      shouwang_influx_lag_seconds: 'gauge',
      shouwang_mqtt_clients: 'gauge',
      shouwang_mqtt_messages_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) {
      expect(f.get(name)?.type, name).toBe(type);
      expect(f.get(name)!.help.length, `${name} help`).toBeGreaterThan(10);
    }

    expect(sampleOf(f, 'shouwang_device_online', { device: 'lock-1' })).toEqual({
      name: 'shouwang_device_online',
      labels: { device: 'lock-1', building: 'A', kind: 'door-lock', site: 'v1' },
      value: 0,
    });
    expect(sampleOf(f, 'shouwang_device_online', { device: 'door-mqtt', building: '-' })!.value).toBe(0);
    expect(sampleOf(f, 'shouwang_device_online_ratio', { device: 'lock-1', window: '24h' })!.value).toBeCloseTo(H / (2 * H + S), 12);
    expect(sampleOf(f, 'shouwang_device_online_ratio', { device: 'lock-1', window: '1h' })!.value).toBe(0);
    expect(sampleOf(f, 'shouwang_site_online_ratio', { window: '24h' })!.value).toBeCloseTo(H / (4 * (2 * H + S)), 12);

    // Histogram: cumulative buckets in seconds, +Inf = count, sum in seconds.
    const le = (v: string) => sampleOf(f, 'shouwang_poll_duration_seconds_bucket', { device: 'lock-1', bus: 'rs485', le: v })!.value;
    expect(le('0.005')).toBe(1);
    expect(le('0.01')).toBe(3);
    expect(le('0.05')).toBe(9);
    expect(le('5')).toBe(9);
    expect(le('+Inf')).toBe(10);
    expect(sampleOf(f, 'shouwang_poll_duration_seconds_count', { device: 'lock-1' })!.value).toBe(10);
    expect(sampleOf(f, 'shouwang_poll_duration_seconds_sum', { device: 'lock-1' })!.value).toBeCloseTo(6.234, 9);

    expect(sampleOf(f, 'shouwang_poll_errors_total', { device: 'lock-1', type: 'exception' })!.value).toBe(2);
    expect(sampleOf(f, 'shouwang_poll_errors_total', { device: 'lock-1', type: 'no_answer' })!.value).toBe(8);
    expect(sampleOf(f, 'shouwang_poll_requests_total', { device: 'pole-1', result: 'success' })!.value).toBe(50);
    expect(sampleOf(f, 'shouwang_breaker_trips_total', { device: 'lock-1' })!.value).toBe(1);
    expect(sampleOf(f, 'shouwang_bus_errors_total', { bus: 'rs485', type: 'crc' })!.value).toBe(4);
    expect(sampleOf(f, 'shouwang_bus_errors_total', { bus: 'rs485', type: 'timeout' })!.value).toBe(6);
    expect(sampleOf(f, 'shouwang_bus_utilisation_ratio', { bus: 'rs485' })!.value).toBeGreaterThan(0);
    // Modbus TCP has no wire limit: no utilisation sample at all rather than a made-up one.
    expect(sampleOf(f, 'shouwang_bus_utilisation_ratio', { bus: 'lan' })).toBeUndefined();
    expect(sampleOf(f, 'shouwang_outbox_depth')!.value).toBe(2);
    expect(sampleOf(f, 'shouwang_spool_depth')!.value).toBe(1234);
    expect(sampleOf(f, 'shouwang_influx_lag_seconds')!.value).toBe(4.5);
    expect(sampleOf(f, 'shouwang_mqtt_clients')!.value).toBe(3);
    expect(sampleOf(f, 'shouwang_mqtt_messages_total', { source: 'gateway' })!.value).toBe(345);
    expect(sampleOf(f, 'shouwang_mqtt_messages_total', { source: 'client' })!.value).toBe(12);
    expect(sampleOf(f, 'process_resident_memory_bytes')!.value).toBeGreaterThan(0);
    // Every sample carries the site label.
    for (const fam of f.values()) for (const s of fam.samples) expect(s.labels.site, s.name).toBe('v1');
  });

  it('without an InfluxDB writer there are no spool metrics, and the registry is not the global one', async () => {
    rig = new Rig({ influx: false });
    rig.service.start();
    const f = parsePromText(await rig.service.metrics.scrape());
    expect(f.has('shouwang_spool_depth')).toBe(false);
    expect(f.has('process_resident_memory_bytes')).toBe(false);
    const { register } = await import('prom-client');
    expect(register.getSingleMetric('shouwang_device_online')).toBeUndefined();
  });
});
