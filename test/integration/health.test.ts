/**
 * Health and metrics around the real gateway and the small simulated village (socat pty pairs,
 * a Modbus TCP socket, the raw-serial lock board): a HealthService built on the running
 * gateway's bus, stats, store, outbox and broker, served by the shared web server with
 * registerHealthRoutes, publishing on the embedded broker and read by a real mqtt.js client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countBrokerMessages, type MqttMessageCounter } from '../../gateway/src/health/mqtt-message-counter.js';
import { registerHealthRoutes } from '../../gateway/src/health/health-routes.js';
import { HealthService } from '../../gateway/src/health/health-service.js';
import type { HealthPoint } from '../../gateway/src/health/health-points.js';
import type { DeviceHealthEntry, HealthSummary } from '../../gateway/src/health/health-snapshot.js';
import { silentLogger } from '../../gateway/src/log.js';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { InfluxSchema, type InfluxDeviceInfo } from '../../gateway/src/sinks/influx/schema.js';
import type { MqttBroker } from '../../gateway/src/sinks/mqtt/broker.js';
import { silenceMs } from '../../gateway/src/protocol/wire-timing.js';
import { createWebServer, type WebServer } from '../../gateway/src/web/server.js';
import type { RtuBusStats } from '../../simulator/src/rtu-bus.js';
import { record } from '../helpers/mqtt.js';
import { InfluxdServer } from '../helpers/influx-servers.js';
import { repoRoot, sleep, stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage, TEST_USERS, type RunningGateway, type RunningVillage } from '../helpers/village.js';
import { parsePromText, sampleOf } from '../unit/health-prom-text.js';

const SITE = 'testvillage';
const DEVICES = ['pole-1', 'pole-2', 'lock-101', 'lock-102', 'lock-103', 'smoke-1', 'pole-tcp', 'board-1'];
const H = 3_600_000;
/** The simulator's config generator names a Modbus TCP endpoint's bus after its device. */
const TCP_BUS = 'lan-pole-tcp';

let village: RunningVillage;
let gw: RunningGateway;
let health: HealthService;
let web: WebServer;
let url: string;
let counter: MqttMessageCounter;
const written: HealthPoint[][] = [];
/** The gateway's telemetry as the InfluxDB writer's schema turns it into line protocol. */
const telemetryLines: string[] = [];

const deviceOf = (id: string): DeviceHealthEntry => health.snapshot().devices.find((d) => d.device === id)!;
const scrape = async () => {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), families: parsePromText(await res.text()) };
};

beforeAll(async () => {
  village = await startVillage({ village: 'test/fixtures/villages/small.yaml', behaviour: false });
  const startedAt = Date.now();
  gw = await startGateway(village, {
    busTimeoutMs: 300,
    polling: { intervals: { alarm: 0, fast: 500, normal: 1000, slow: 2000 }, breaker: { failures: 3, backoff: 2000, maxBackoff: 2000 } },
  });
  // app.ts will hand the broker to the service itself; here we reach the running gateway's one.
  const broker = (gw.gateway as unknown as { broker?: MqttBroker }).broker;
  if (!broker) throw new Error('the running gateway has no MQTT broker');
  counter = countBrokerMessages(broker.aedes);
  const profiles = ProfileRegistry.load(gw.config.profiles.dirs);
  const infoOf = new Map<string, InfluxDeviceInfo>(gw.config.devices.map((d) => [d.id, { profile: d.profile, kind: profiles.get(d.profile).kind, location: d.location }]));
  const schema = new InfluxSchema({ site: SITE });
  const keep = (l: { line: string } | undefined) => void (l && telemetryLines.push(l.line));
  gw.gateway.bus.on('points', (b) => schema.points(b.device, b.points, infoOf.get(b.device)).forEach(keep));
  gw.gateway.bus.on('event', (e) => keep(schema.event(e, infoOf.get(e.device))));
  gw.gateway.bus.on('alarm', (a) => keep(schema.alarm(a, infoOf.get(a.device))));
  gw.gateway.bus.on('status', (st) => keep(schema.status(st, infoOf.get(st.device))));
  health = new HealthService({
    site: gw.config.site.id,
    devices: gw.config.devices
      .filter((d) => d.enabled)
      .map((d) => ({ id: d.id, profile: d.profile, kind: profiles.get(d.profile).kind, location: d.location, ...(d.bus === undefined ? {} : { bus: d.bus }) })),
    buses: gw.config.buses,
    bus: gw.gateway.bus,
    store: gw.gateway.store,
    busStats: () => gw.gateway.stats().buses,
    forwardingStats: () => gw.gateway.forwarding.stats(),
    brokerStats: () => ({ ...broker.stats(), ...counter.counts() }),
    publish: (topic, payload) => broker.publish(topic, payload, { qos: 1, retain: true }),
    writePoints: (points) => void written.push(points),
    log: silentLogger(),
    intervalMs: 1000,
    rateWindowMs: 4000,
    windowsMs: [24 * H, H],
    stateFile: join(gw.storageDir, 'health-observed.json'),
    observingSince: startedAt,
  });
  health.start();
  web = createWebServer({ log: silentLogger() });
  registerHealthRoutes(web.app, health);
  url = await web.listen();
  await waitFor(() => health.snapshot().deviceCounts.online === DEVICES.length, 15_000, 'every device online in the health view');
}, 60_000);

afterAll(async () => {
  health?.stop();
  counter?.detach();
  await web?.close();
  await gw?.stop();
  await village?.stop();
  await stopAll();
});

describe('health and metrics of the running gateway', () => {
  it('/metrics is valid Prometheus text with every device online and the process metrics', async () => {
    const { contentType, families: f } = await scrape();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const d of DEVICES) expect(sampleOf(f, 'shouwang_device_online', { device: d, site: SITE })?.value, d).toBe(1);
    expect(sampleOf(f, 'shouwang_device_online', { device: 'lock-101' })!.labels).toEqual({ device: 'lock-101', building: 'A', kind: 'door-lock', site: SITE });
    expect(f.get('shouwang_poll_duration_seconds')!.type).toBe('histogram');
    const polled = sampleOf(f, 'shouwang_poll_duration_seconds_count', { device: 'pole-1', bus: 'rs485-a' })!.value;
    expect(polled).toBeGreaterThan(0);
    expect(sampleOf(f, 'shouwang_poll_duration_seconds_bucket', { device: 'pole-1', le: '+Inf' })!.value).toBe(polled);
    expect(sampleOf(f, 'shouwang_poll_requests_total', { device: 'pole-tcp', bus: TCP_BUS, result: 'success' })!.value).toBeGreaterThan(0);
    expect(sampleOf(f, 'shouwang_mqtt_clients')).toBeDefined();
    expect(sampleOf(f, 'shouwang_outbox_depth')!.value).toBe(0);
    expect(sampleOf(f, 'process_resident_memory_bytes')!.value).toBeGreaterThan(10e6);
    expect(f.has('shouwang_spool_depth')).toBe(false); // no InfluxDB writer given
  });

  it('bus utilisation agrees with the simulator’s own count of the wire', async () => {
    // A second service started now measures over exactly the simulator's window (its rate window is longer than the test).
    const probe = new HealthService({
      site: SITE,
      devices: [],
      buses: gw.config.buses,
      bus: gw.gateway.bus,
      busStats: () => gw.gateway.stats().buses,
      forwardingStats: () => gw.gateway.forwarding.stats(),
      brokerStats: () => ({ clients: 0 }),
      log: silentLogger(),
      intervalMs: 600_000,
      rateWindowMs: 600_000,
      processMetrics: false,
    });
    const simBus = async () => (await village.control.stats()).buses.find((b) => b.id === 'rs485-a') as RtuBusStats;
    const a = await simBus();
    const t0 = Date.now();
    probe.start();
    try {
      await sleep(5000);
      const b = await simBus();
      const ours = probe.snapshot().buses.find((x) => x.bus === 'rs485-a')!;
      const elapsed = Date.now() - t0;
      // The simulator's view: every frame it saw or sent, plus a t3.5 after each.
      const simUtil = (b.busyWireMs - a.busyWireMs + silenceMs(9600) * (b.frames - a.frames + b.replies - a.replies)) / elapsed;
      expect(ours.rateWindowMs).toBeGreaterThanOrEqual(4900);
      expect(simUtil).toBeGreaterThan(0.05);
      // Measured 0.945 against 0.945 on an idle machine; a request or reply in flight at either end is the difference.
      expect(Math.abs(ours.utilisation! - simUtil)).toBeLessThan(0.03);
    } finally {
      probe.stop();
    }
    expect(health.snapshot().buses.find((x) => x.bus === TCP_BUS)!.utilisation).toBeNull();
    const { families } = await scrape();
    expect(sampleOf(families, 'shouwang_bus_utilisation_ratio', { bus: 'rs485-a' })!.value).toBeGreaterThan(0.05);
  });

  it('the retained health topic reaches a real mqtt.js client', async () => {
    // Subscribe after a publish: the message must come back as retained.
    await sleep(1200);
    const admin = await record(gw.mqttUrl, [`shouwang/${SITE}/gateway/health`], { username: TEST_USERS.admin.username, password: TEST_USERS.admin.password });
    try {
      const msg = await admin.waitFor((m) => m.retain, 5000, 'retained gateway health');
      const summary = JSON.parse(msg.payload) as HealthSummary;
      expect(summary).toMatchObject({ site: SITE, deviceCounts: { total: 8 }, outbox: { depth: 0 }, spool: null });
      expect(summary.deviceCounts.online + summary.deviceCounts.offline + summary.deviceCounts.unknown).toBe(8);
      expect(summary.online.map((w) => w.window)).toEqual(['24h', '1h']);
      expect(Object.keys(summary.online[0]!.buildings).sort()).toEqual(['A', 'B', 'lane']);
      expect(summary.buses.map((b) => b.bus).sort()).toEqual([TCP_BUS, 'lockboard', 'rs485-a']);
      expect(summary.broker.messagesOut).toBeGreaterThan(0);
      expect(summary.process.rssBytes).toBeGreaterThan(0);
      // Refreshed every period; the next one counts this client.
      const next = await admin.waitFor((m) => m !== msg && !m.retain, 3000, 'the next health message');
      const fresh = JSON.parse(next.payload) as HealthSummary;
      expect(fresh.ts).toBeGreaterThan(summary.ts);
      expect(fresh.broker.clients).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.close();
    }
  });

  it('a dead lock goes offline: its online rate drops, the breaker trip and timeouts are counted, /metrics shows it', async () => {
    const before = deviceOf('lock-103');
    expect(before.availability).toBe('online');
    expect(before.online['1h']!.onlineMs).toBeGreaterThan(1000);
    const timeoutsBefore = health.snapshot().buses.find((b) => b.bus === 'rs485-a')!.timeouts;

    await village.control.setDeviceFaults('lock-103', { dead: true });
    await waitFor(() => deviceOf('lock-103').availability === 'offline', 10_000, 'lock-103 offline in the health view');
    const offAt = deviceOf('lock-103');
    await sleep(3000);
    const dead = deviceOf('lock-103');
    // Online time stands still while observed time runs on.
    expect(dead.online['1h']!.onlineMs).toBe(offAt.online['1h']!.onlineMs);
    expect(dead.online['1h']!.observedMs - offAt.online['1h']!.observedMs).toBeGreaterThanOrEqual(2900);
    expect(dead.online['1h']!.ratio).toBeLessThan(offAt.online['1h']!.ratio);
    expect(dead.online['1h']!.ratio).toBeCloseTo(offAt.online['1h']!.onlineMs / dead.online['1h']!.observedMs, 12);
    expect(dead.poll!.breakerTrips).toBeGreaterThanOrEqual(1);
    // A dead slave does not answer: its failures are timeouts, counted for it.
    expect(dead.poll!.errors.timeout).toBeGreaterThanOrEqual(3);
    expect(dead.poll!.errors.crc).toBe(0);
    // Roll-ups on the real data: building A (the lock's) is Σ online / Σ observed of its devices.
    const snap = health.snapshot();
    const inA = snap.devices.filter((d) => d.building === 'A').map((d) => d.online['24h']!);
    const dayA = snap.online.find((w) => w.window === '24h')!.buildings.A!;
    expect(dayA.devices).toBe(4);
    expect(dayA.ratio).toBeCloseTo(inA.reduce((n, t) => n + t.onlineMs, 0) / inA.reduce((n, t) => n + t.observedMs, 0), 12);
    expect(dayA.ratio).toBeLessThan(1);

    const { families: f } = await scrape();
    expect(sampleOf(f, 'shouwang_device_online', { device: 'lock-103' })!.value).toBe(0);
    expect(sampleOf(f, 'shouwang_device_online_ratio', { device: 'lock-103', window: '1h' })!.value).toBeLessThan(dead.online['1h']!.ratio);
    expect(sampleOf(f, 'shouwang_breaker_trips_total', { device: 'lock-103', bus: 'rs485-a' })!.value).toBeGreaterThanOrEqual(1);
    expect(sampleOf(f, 'shouwang_breaker_open', { device: 'lock-103' })).toBeDefined();
    expect(sampleOf(f, 'shouwang_poll_errors_total', { device: 'lock-103', type: 'timeout' })!.value).toBeGreaterThanOrEqual(3);
    expect(sampleOf(f, 'shouwang_bus_errors_total', { bus: 'rs485-a', type: 'timeout' })!.value).toBeGreaterThanOrEqual(timeoutsBefore + 3);
    expect(sampleOf(f, 'shouwang_devices', { state: 'offline' })!.value).toBeGreaterThanOrEqual(1);

    // The same numbers went to the InfluxDB writer.
    const last = written[written.length - 1]!;
    expect(last.find((p) => p.measurement === 'device_health' && p.tags.device === 'lock-103')!.fields.online).toBe(0);
    expect(last.find((p) => p.measurement === 'gateway_health')!.fields.devices_offline).toBeGreaterThanOrEqual(1);

    await village.control.setDeviceFaults('lock-103', { dead: false });
    await waitFor(() => deviceOf('lock-103').availability === 'online', 15_000, 'lock-103 back online');
    const back = deviceOf('lock-103').online['1h']!;
    await sleep(1000);
    expect(deviceOf('lock-103').online['1h']!.onlineMs).toBeGreaterThan(back.onlineMs + 900);
  });

  it('/api/health and /api/health/devices answer JSON with roll-ups, buses and the alarm path', async () => {
    const res = await fetch(`${url}/api/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const h = (await res.json()) as HealthSummary & { devices?: unknown };
    expect(h.site).toBe(SITE);
    expect(h.uptimeS).toBeGreaterThan(0);
    expect(h.devices).toBeUndefined();
    const day = h.online.find((w) => w.window === '24h')!;
    expect(day.site.devices).toBe(8);
    expect(day.site.ratio).toBeGreaterThan(0);
    expect(day.site.ratio).toBeLessThan(1); // lock-103 was dead for a while
    expect(Object.keys(day.kinds).sort()).toEqual(['alarm-pole', 'door-lock', 'lock-board', 'smoke-detector']);
    expect(h.alarmPath).toMatchObject({ pending: 0, paths: [] });
    expect(typeof h.alarmPath.delivered).toBe('number');
    expect(h.buses.find((b) => b.bus === 'rs485-a')).toMatchObject({ type: 'rtu', baudRate: 9600, devices: 6 });

    const list = (await (await fetch(`${url}/api/health/devices`)).json()) as { site: string; windows: string[]; devices: DeviceHealthEntry[] };
    expect(list.windows).toEqual(['24h', '1h']);
    expect(list.devices.map((d) => d.device).sort()).toEqual([...DEVICES].sort());
    const pole = list.devices.find((d) => d.device === 'pole-tcp')!;
    expect(pole).toMatchObject({ kind: 'alarm-pole', building: 'lane', bus: TCP_BUS, availability: 'online' });
    expect(pole.poll!.successRatio).toBeGreaterThan(0.5);
    expect(pole.poll!.responseTime.count).toBeGreaterThan(0);
  });
});

interface DashboardTarget {
  refId: string;
  query: string;
  rawQuery: boolean;
}
interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: DashboardTarget[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query: string }> };
  annotations: { list: Array<{ query?: string }> };
}

describe('the Grafana dashboard on InfluxDB 1.6', () => {
  it('every InfluxQL query of docs/grafana/shouwang-influx.json runs on the gateway’s own data; the key panels show it', async () => {
    const influx = await InfluxdServer.start();
    try {
      // Something for the door and alarm panels: a pass and a panic press.
      await village.control.pass('lock-102', { user: 9, method: 'fingerprint' });
      await village.control.press('pole-2', { holdMs: 1000 });
      const alarm = await waitFor(() => gw.gateway.alarms.active().find((a) => a.device === 'pole-2'), 10_000, 'pole-2 alarm');
      await waitFor(() => telemetryLines.some((l) => l.startsWith('access_event,')), 8000, 'an access_event line');
      gw.gateway.alarms.reset(alarm.id, { by: 'test' });
      await sleep(1200); // one more health period

      const schema = new InfluxSchema({ site: SITE });
      const sent = [...written];
      const healthLines = sent.flat().map((p) => schema.custom(p)!.line);
      await influx.createDatabase('shouwang');
      const res = await fetch(`${influx.url}/write?db=shouwang&precision=ms`, { method: 'POST', body: [...telemetryLines, ...healthLines].join('\n') });
      expect(res.status, await res.text()).toBe(204);

      const dash = JSON.parse(readFileSync(join(repoRoot, 'docs/grafana/shouwang-influx.json'), 'utf8')) as Dashboard;
      expect(dash).toMatchObject({ uid: 'shouwang-influx', title: expect.any(String) as string, schemaVersion: expect.any(Number) as number });
      const ids = dash.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of dash.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);

      // Grafana's macros and variables, as it fills them in (All buildings = .*).
      const fill = (q: string) =>
        q.replaceAll('$timeFilter', 'time > now() - 1h').replaceAll('$__interval', '1s').replaceAll('/^$site$/', `/^${SITE}$/`).replaceAll('/^$building$/', '/^.*$/');
      const queries: Array<{ what: string; query: string }> = [
        ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ what: `${p.title} ${t.refId}`, query: t.query }))),
        ...dash.templating.list.filter((v) => v.type === 'query').map((v) => ({ what: `variable ${v.name}`, query: v.query })),
        ...dash.annotations.list.filter((a) => a.query !== undefined).map((a) => ({ what: 'annotation', query: a.query! })),
      ];
      expect(queries.length).toBeGreaterThan(30);
      const seriesOf = new Map<string, number>();
      for (const q of queries) {
        expect(q.query, q.what).not.toMatch(/\$(?!timeFilter|__interval|site|building)\w/);
        const series = await influx.query(fill(q.query), 'shouwang').catch((err: unknown) => {
          throw new Error(`${q.what}: ${String(err)}`);
        });
        seriesOf.set(q.what, series.length);
      }
      const withData = [
        'Site online rate, 24 h A',
        'Online rate per building, 24 h A',
        'Online rate per device kind, 24 h A',
        'Online / offline history A',
        'Devices below 100 % (24 h) A',
        'Passes per building A',
        'Recent passes A',
        'Alarms raised A',
        'Alarms by rule A',
        'Alarm lifecycle A',
        'Bus utilisation (fraction of the wire limit) A',
        'Bus errors per minute A',
        'Breaker trips A',
        'variable site',
        'variable building',
        'annotation',
      ];
      for (const what of withData) expect(seriesOf.get(what), what).toBeGreaterThan(0);

      // The time-weighted building roll-up the dashboard shows is the gateway's own figure.
      const rows = await influx.select(fill(dash.panels.find((p) => p.title === 'Online rate per building, 24 h')!.targets![0]!.query), 'shouwang');
      const lastDay = sent[sent.length - 1]!;
      for (const row of rows) {
        const devices = lastDay.filter((p) => p.measurement === 'device_health' && p.tags.building === row.building);
        const expected = devices.reduce((n, p) => n + p.fields.online_s_24h!, 0) / devices.reduce((n, p) => n + p.fields.observed_s_24h!, 0);
        expect(row.sum_sum as number, String(row.building)).toBeCloseTo(expected, 6);
      }
      expect(rows.map((r) => r.building).sort()).toEqual(['A', 'B', 'lane']);
    } finally {
      await influx.dispose();
    }
  });
});
