/**
 * Shared pieces of the InfluxDB sink tests: a sink on a temp store with its logs captured, and
 * builders for the domain objects a village produces (lock points, passes, alarms, status).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Alarm, DeviceEvent, DeviceStatus, Point } from '../../gateway/src/core/types.js';
import { influxSchema, type InfluxConfigInput } from '../../gateway/src/sinks/influx/config.js';
import { InfluxSink } from '../../gateway/src/sinks/influx/influx-sink.js';
import type { InfluxDeviceInfo } from '../../gateway/src/sinks/influx/schema.js';
import type { DeliveryReport } from '../../gateway/src/sinks/influx/writer.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';
import { alarmFixture } from './alarm-fixture.js';

export const SITE = 'v1';

/** test/helpers/spooling-sink.ts writes `probe` seq n at KILL_TEST_BASE + n ms, for database KILL_TEST_DB. */
export const KILL_TEST_DB = 'killed';
export const KILL_TEST_BASE = 1_790_000_000_000;

/** Device ids -> identity: `lock-*` are fingerprint locks, `pole-*` alarm poles. */
export function deviceInfo(device: string): InfluxDeviceInfo | undefined {
  const n = Number(device.split('-')[1] ?? 0);
  if (device.startsWith('lock-'))
    return { profile: 'generic-rs485-fingerprint-lock', kind: 'door-lock', location: { building: `B${(n % 3) + 1}`, room: String(100 + n) } };
  if (device.startsWith('pole-')) return { profile: 'generic-alarm-pole', kind: 'alarm-pole', location: { building: 'B1' } };
  return undefined;
}

export type LogRecord = Record<string, unknown> & { level: number; msg: string };

export interface SinkKit {
  sink: InfluxSink;
  store: Store;
  dir: string;
  logs: LogRecord[];
  reports: DeliveryReport[];
  /** Stop the sink, close the store (keeps the dir). */
  close(): Promise<void>;
  /** close() and remove the dir. */
  dispose(): Promise<void>;
}

/** An enabled sink on a fresh (or given) store dir, logs captured as JSON records. */
export function makeSink(config: Omit<InfluxConfigInput, 'enabled'>, opts: { dir?: string } = {}): SinkKit {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sw-influx-sink-'));
  const store = openStore({ dir });
  const logs: LogRecord[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogRecord) });
  const reports: DeliveryReport[] = [];
  const sink = new InfluxSink({
    config: influxSchema.parse({ ...config, enabled: true }),
    store,
    site: SITE,
    deviceInfo,
    log,
    onDelivery: (r) => reports.push(r),
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await sink.stop();
    store.close();
  };
  return {
    sink,
    store,
    dir,
    logs,
    reports,
    close,
    dispose: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One reading of a lock: seq (unique per test), door, bolt, battery. */
export function lockReading(device: string, seq: number, ts: number): Point[] {
  return [
    { device, point: 'event_seq', value: seq, quality: 'good', ts },
    { device, point: 'door', value: seq % 2 === 0 ? 'closed' : 'open', quality: 'good', ts },
    { device, point: 'bolt', value: seq % 3 === 0 ? 'unlocked' : 'locked', quality: 'good', ts },
    { device, point: 'battery', value: 3 + (seq % 100) / 100, quality: 'good', ts },
  ];
}

export function passEvent(device: string, n: number, ts: number): DeviceEvent {
  return {
    id: `pass-${device}-${n}`,
    site: SITE,
    device,
    profile: 'generic-rs485-fingerprint-lock',
    event: 'pass',
    kind: 'access',
    ts,
    fields: { last_user: n % 50, last_method: n % 2 === 0 ? 'fingerprint' : 'card', last_result: n % 7 === 0 ? 'denied' : 'granted' },
  };
}

export function panicAlarm(device: string, n: number, ts: number, state: Alarm['state'] = 'raised'): Alarm {
  return alarmFixture({ id: `alarm-${device}-${n}`, site: SITE, device, state, raisedAt: ts, updatedAt: ts });
}

export function statusOf(device: string, online: boolean, since: number, reason?: string): DeviceStatus {
  return { device, availability: online ? 'online' : 'offline', since, consecutiveFailures: online ? 0 : 3, ...(reason ? { reason } : {}) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until `fn` is truthy. */
export async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
