/**
 * The simulated village through the real gateway into real time-series servers, read back and
 * compared with the simulator's truth:
 *
 *   - v1: InfluxDB 1.6 (`/write`), read back with InfluxQL (`/query`, epoch=ms);
 *   - v2: VictoriaMetrics (`/api/v2/write`), read back with `/api/v1/export`.
 *
 * The simulator (test/fixtures/villages/small.yaml, behaviour off) runs in its own process; the
 * gateway runs in this one (test/helpers/village.ts) with `influx:` switched on by the `edit`
 * hook. Before each gateway starts, the test gives the devices distinctive values (so a default
 * register image cannot pass by accident); it then changes them while the gateway runs, and the
 * newest value stored must be the simulator's value, decoded (scale and offset applied) the same
 * way. Every device must have an `online = 1` status row, and a pole press must appear in the
 * `alarm` measurement with the gateway's alarm id and code.
 *
 * The two gateways run one after the other: the RTU lines are pty pairs with a single master.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PointValue } from '../../gateway/src/core/types.js';
import { InfluxdServer, VictoriaMetricsServer, type VmSeries } from '../helpers/influx-servers.js';
import { sleep, stopAll, waitFor } from '../helpers/processes.js';
import { startGateway, startVillage, type RunningGateway, type RunningVillage } from '../helpers/village.js';

const SITE = 'testvillage';
const DB = 'village';
/** Every device of small.yaml with its configured location (the building/room tags). */
const DEVICES: Record<string, { building: string; room: string; profile: string }> = {
  'pole-1': { building: 'lane', room: 'gate', profile: 'generic-alarm-pole' },
  'pole-2': { building: 'lane', room: 'market', profile: 'generic-alarm-pole' },
  'lock-101': { building: 'A', room: '101', profile: 'generic-rs485-fingerprint-lock' },
  'lock-102': { building: 'A', room: '102', profile: 'generic-rs485-fingerprint-lock' },
  'lock-103': { building: 'A', room: '103', profile: 'generic-rs485-fingerprint-lock' },
  'smoke-1': { building: 'A', room: 'stairwell', profile: 'generic-smoke-detector' },
  'pole-tcp': { building: 'lane', room: 'north-gate', profile: 'generic-alarm-pole' },
  'board-1': { building: 'B', room: 'parcel-lockers', profile: 'wkly-lock-board' },
};

/** Numeric points compared with the simulator: measurement, device, point. */
const CHECKED: Array<{ measurement: string; device: string; point: string }> = [
  { measurement: 'door_lock', device: 'lock-101', point: 'battery' },
  { measurement: 'door_lock', device: 'lock-102', point: 'battery' },
  { measurement: 'door_lock', device: 'lock-103', point: 'battery' },
  { measurement: 'alarm_pole', device: 'pole-1', point: 'supply_voltage' },
  { measurement: 'alarm_pole', device: 'pole-2', point: 'cabinet_temp' },
  { measurement: 'alarm_pole', device: 'pole-tcp', point: 'supply_voltage' },
  { measurement: 'smoke_detector', device: 'smoke-1', point: 'temperature' },
  { measurement: 'smoke_detector', device: 'smoke-1', point: 'smoke_level' },
];

/** Two sets of distinctive values: one before the gateway starts, one while it runs (beyond every deadband). */
function scenario(round: number): Record<string, Record<string, PointValue>> {
  const r = round * 2;
  return {
    'lock-101': { battery: 3.47 - r * 0.11 },
    'lock-102': { battery: 3.21 + r * 0.07 },
    'lock-103': { battery: 2.98 + r * 0.13 },
    'pole-1': { supply_voltage: 23.7 - r * 0.6 },
    'pole-2': { cabinet_temp: -3.5 + r * 2.2 },
    'pole-tcp': { supply_voltage: 12.4 + r * 0.9 },
    'smoke-1': { temperature: 21.5 + r * 1.3, smoke_level: 0.12 + r * 0.21 },
  };
}

let village: RunningVillage;
let influx: InfluxdServer;
let vm: VictoriaMetricsServer;

beforeAll(async () => {
  [village, influx, vm] = await Promise.all([
    startVillage({ village: 'test/fixtures/villages/small.yaml', behaviour: false }),
    InfluxdServer.start(),
    VictoriaMetricsServer.start(['-dedup.minScrapeInterval=1ms']),
  ]);
  await influx.createDatabase(DB);
}, 60_000);

afterAll(async () => {
  await village?.stop();
  await Promise.all([influx?.dispose(), vm?.dispose()]);
  await stopAll();
});

/** Give the simulator's devices the values of a round; returns the truth as the simulator decodes it. */
async function setRound(round: number): Promise<Map<string, number>> {
  for (const [device, values] of Object.entries(scenario(round))) {
    const r = await village.control.setPoints(device, values);
    expect(r.skipped, `${device}: points the simulator refused`).toEqual([]);
  }
  return truth();
}

/** The simulator's current decoded value of every checked point (`device/point` -> value). */
async function truth(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const { device, point } of CHECKED) {
    const v = (await village.control.getPoints(device))[point];
    expect(typeof v, `${device}.${point} in the simulator`).toBe('number');
    out.set(`${device}/${point}`, v as number);
  }
  return out;
}

/**
 * Fast polling so that the slow class (battery, voltages, temperature) is read every 2 s; alarm
 * points every 250 ms rather than back to back, so that a loaded machine leaves the 9600-baud
 * line room for the slow class.
 */
const polling = { intervals: { alarm: 250, fast: 500, normal: 1000, slow: 2000 } };

async function startInfluxGateway(influxConfig: Record<string, unknown>): Promise<RunningGateway> {
  return startGateway(village, {
    polling,
    edit: (c) => {
      c.influx = { enabled: true, batch: { intervalMs: 200 }, ...influxConfig };
    },
  });
}

/** Press pole-1 and return the alarm the gateway raised for it. */
async function pressPole(gw: RunningGateway): Promise<{ id: string; raisedAt: number; pressedAt: number }> {
  // Held for 2 s: a loaded machine can stretch one polling round of the RTU line well past 0.5 s.
  const { ts: pressedAt } = await village.control.press('pole-1', { holdMs: 2000 });
  const alarm = await waitFor(() => gw.gateway.alarms.active().find((a) => a.device === 'pole-1' && a.rule === 'panic'), 10_000, 'pole-1 panic alarm');
  return { id: alarm.id, raisedAt: alarm.raisedAt, pressedAt };
}

/** Which devices the gateway has online, for failure messages. */
function availability(gw: RunningGateway): string {
  return gw.gateway
    .stats()
    .buses.flatMap((b) => Object.entries(b.poll.devices).map(([d, x]) => `${d}=${x.availability}`))
    .join(' ');
}

/** Values stored are decoded numbers: compare to ~1e-9 (the same float, printed and parsed). */
function expectSame(stored: number | undefined, expected: number, what: string): void {
  expect(stored, what).toBeDefined();
  expect(Math.abs(stored! - expected), `${what}: stored ${stored}, simulator ${expected}`).toBeLessThan(1e-9);
}

describe('the village through the gateway into InfluxDB 1.6 (v1)', () => {
  it('points, device status and an alarm read back as the simulator has them', async () => {
    const before = await setRound(0);
    const gw = await startInfluxGateway({ api: 'v1', url: influx.url, v1: { db: DB } });
    try {
      /** Newest stored value per checked point, from InfluxQL. */
      const newest = async (): Promise<Map<string, number>> => {
        const out = new Map<string, number>();
        for (const measurement of new Set(CHECKED.map((c) => c.measurement))) {
          const fields = [...new Set(CHECKED.filter((c) => c.measurement === measurement).map((c) => c.point))];
          for (const field of fields) {
            const rows = await influx.select(`SELECT last("${field}") FROM "${measurement}" GROUP BY "device"`, DB);
            for (const r of rows) if (typeof r.last === 'number') out.set(`${r.device}/${field}`, r.last);
          }
        }
        return out;
      };
      const matches = (want: Map<string, number>) => async () => {
        const got = await newest();
        return [...want].every(([k, v]) => got.has(k) && Math.abs(got.get(k)! - v) < 1e-9) ? got : undefined;
      };

      // 1. The values set before the start land, decoded with scale and offset.
      const first = await waitFor(matches(before), 20_000, 'the first values in InfluxDB').catch(async (err: unknown) => {
        throw new Error(`${String(err)}; stored ${JSON.stringify([...(await newest())])}, want ${JSON.stringify([...before])}; gateway: ${availability(gw)}`);
      });
      for (const [k, v] of before) expectSame(first.get(k), v, k);

      // 2. Changed while the gateway runs: the newest stored value follows the simulator.
      const after = await setRound(1);
      for (const [k, v] of after) expect(v, `${k} changed in the simulator`).not.toBe(before.get(k));
      const second = await waitFor(matches(after), 15_000, 'the changed values in InfluxDB').catch(async (err: unknown) => {
        throw new Error(`${String(err)}; stored ${JSON.stringify([...(await newest())])}, want ${JSON.stringify([...after])}; gateway: ${availability(gw)}`);
      });
      for (const [k, v] of after) expectSame(second.get(k), v, k);
      // Both samples are kept: the battery of lock-101 has (at least) the two distinct values.
      const history = (await influx.select(`SELECT "battery" FROM "door_lock" WHERE "device" = 'lock-101'`, DB)).map((r) => r.battery);
      expect(history).toContain(before.get('lock-101/battery'));
      expect(history).toContain(after.get('lock-101/battery'));

      // 3. Every device went online, with the configured tags.
      const status = await waitFor(
        async () => {
          const rows = await influx.select(`SELECT last("online") AS online FROM "device_status" GROUP BY *`, DB);
          return rows.length === Object.keys(DEVICES).length ? rows : undefined;
        },
        10_000,
        'a device_status row for every device',
      );
      const byDevice = Object.fromEntries(status.map((r) => [r.device, r]));
      for (const [device, where] of Object.entries(DEVICES)) {
        expect(byDevice[device], device).toMatchObject({ online: 1, site: SITE, building: where.building, room: where.room, profile: where.profile });
      }
      // The gateway agrees that they are online (status rows are the same facts).
      for (const b of gw.gateway.stats().buses)
        for (const [device, d] of Object.entries(b.poll.devices)) expect(d.availability, device).toBe('online');

      // 4. A pole press: the raised alarm is in the `alarm` measurement with its id and code.
      const alarm = await pressPole(gw);
      const rows = await waitFor(
        async () => {
          const r = await influx.select(`SELECT * FROM "alarm" WHERE "device" = 'pole-1' AND "state" = 'raised' GROUP BY *`, DB);
          return r.length > 0 ? r : undefined;
        },
        5000,
        'the raised alarm in InfluxDB',
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        id: alarm.id,
        rule: 'panic',
        kind: 'alarm',
        severity: 'emergency',
        cid: 120,
        sia: 'PA',
        latch: true,
        raised_at: alarm.raisedAt,
        building: 'lane',
        room: 'gate',
        site: SITE,
      });
      // The row's time is the transition (updatedAt): the raise, just after the reading that caused it.
      const rowTime = rows[0]!.time as number;
      expect(rowTime - alarm.raisedAt).toBeGreaterThanOrEqual(0);
      expect(rowTime - alarm.raisedAt).toBeLessThan(1000);
      // Raised by this press, not by something older: read while the button was down (2 s).
      expect(alarm.raisedAt - alarm.pressedAt).toBeGreaterThanOrEqual(-5);
      expect(alarm.raisedAt - alarm.pressedAt).toBeLessThan(2000);
      gw.gateway.alarms.reset(alarm.id, { by: 'test' });

      const stats = gw.gateway.influx.stats();
      expect(stats).toMatchObject({ enabled: true, connection: { state: 'up' }, dropped: { total: 0 } });
    } finally {
      await gw.stop();
    }
  }, 60_000);
});

describe('the village through the gateway into VictoriaMetrics (v2)', () => {
  it('points, device status and an alarm read back as the simulator has them', async () => {
    // Let pole-1's latch from the v1 case (reset there) and its button release settle first.
    await waitFor(async () => (await village.control.getPoints('pole-1')).button === 'released', 10_000, 'pole-1 button released');
    const before = await setRound(2);
    const gw = await startInfluxGateway({ api: 'v2', url: vm.url, v2: { org: 'village', bucket: 'shouwang', token: 'test-token' } });
    try {
      /** Newest sample per checked point: series `<measurement>_<field>{device=…}`. */
      const newest = async (): Promise<Map<string, number>> => {
        const names = [...new Set(CHECKED.map((c) => `${c.measurement}_${c.point}`))];
        const series = await vm.export(`{__name__=~"${names.join('|')}"}`);
        const out = new Map<string, number>();
        for (const { measurement, device, point } of CHECKED) {
          const s = series.find((x) => x.metric.__name__ === `${measurement}_${point}` && x.metric.device === device);
          const v = s ? lastValue(s) : undefined;
          if (v !== undefined) out.set(`${device}/${point}`, v);
        }
        return out;
      };
      const matches = (want: Map<string, number>) => async () => {
        const got = await newest();
        return [...want].every(([k, v]) => got.has(k) && Math.abs(got.get(k)! - v) < 1e-9) ? got : undefined;
      };

      const first = await waitFor(matches(before), 20_000, 'the first values in VictoriaMetrics').catch(async (err: unknown) => {
        throw new Error(`${String(err)}; stored ${JSON.stringify([...(await newest())])}, want ${JSON.stringify([...before])}; gateway: ${availability(gw)}`);
      });
      for (const [k, v] of before) expectSame(first.get(k), v, k);

      const after = await setRound(3);
      const second = await waitFor(matches(after), 15_000, 'the changed values in VictoriaMetrics').catch(async (err: unknown) => {
        throw new Error(`${String(err)}; stored ${JSON.stringify([...(await newest())])}, want ${JSON.stringify([...after])}; gateway: ${availability(gw)}`);
      });
      for (const [k, v] of after) expectSame(second.get(k), v, k);

      // Tags become labels, the same five on every series of a device.
      const lock = (await vm.export('{__name__="door_lock_battery",device="lock-101"}'))[0]!;
      expect(lock.metric).toMatchObject({ site: SITE, building: 'A', room: '101', device: 'lock-101', profile: 'generic-rs485-fingerprint-lock' });

      // Every device online (device_status_online = 1 as its newest sample).
      const status = await waitFor(
        async () => {
          const s = await vm.export('{__name__="device_status_online"}');
          return s.length === Object.keys(DEVICES).length ? s : undefined;
        },
        10_000,
        'device_status_online for every device',
      );
      for (const [device, where] of Object.entries(DEVICES)) {
        const s = status.find((x) => x.metric.device === device);
        expect(s, device).toBeDefined();
        expect(s!.metric).toMatchObject({ building: where.building, room: where.room, profile: where.profile, site: SITE });
        expect(lastValue(s!), `${device} online`).toBe(1);
      }

      // A pole press: VictoriaMetrics keeps numbers and booleans only (no `id`, `sia` strings),
      // so the alarm is found by its labels and matched by its code and raise time.
      const alarm = await pressPole(gw);
      const raised = await vm.waitExport(
        '{__name__=~"alarm_(cid|raised_at|latch)",device="pole-1",state="raised"}',
        // Ingestion is asynchronous: wait until all three series hold the sample.
        (s) => ['alarm_cid', 'alarm_raised_at', 'alarm_latch'].every((n) => s.some((x) => x.metric.__name__ === n && x.timestamps.length > 0)),
        5000,
      );
      // One raise: one sample per series, at the transition time (just after the reading).
      const at = (name: string): number | undefined => {
        const s = raised.filter((x) => x.metric.__name__ === name);
        expect(s, name).toHaveLength(1);
        expect(s[0]!.timestamps, name).toHaveLength(1);
        expect(s[0]!.timestamps[0]! - alarm.raisedAt, `${name} time - raisedAt`).toBeGreaterThanOrEqual(0);
        expect(s[0]!.timestamps[0]! - alarm.raisedAt, `${name} time - raisedAt`).toBeLessThan(1000);
        return s[0]!.values[0];
      };
      expect(at('alarm_cid')).toBe(120);
      expect(at('alarm_raised_at')).toBe(alarm.raisedAt);
      expect(at('alarm_latch')).toBe(1);
      const labels = raised.find((x) => x.metric.__name__ === 'alarm_cid')!.metric;
      expect(labels).toMatchObject({ rule: 'panic', kind: 'alarm', severity: 'emergency', building: 'lane', room: 'gate', site: SITE });
      gw.gateway.alarms.reset(alarm.id, { by: 'test' });
      await sleep(300);

      const stats = gw.gateway.influx.stats();
      expect(stats).toMatchObject({ enabled: true, api: 'v2', connection: { state: 'up' }, dropped: { total: 0 } });
    } finally {
      await gw.stop();
    }
  }, 60_000);
});

/** The sample with the newest timestamp. */
function lastValue(s: VmSeries): number | undefined {
  let best = -1;
  for (let i = 0; i < s.timestamps.length; i++) if (best < 0 || s.timestamps[i]! >= s.timestamps[best]!) best = i;
  return best < 0 ? undefined : s.values[best];
}
