/**
 * The gateway's health in one JSON-able object (PURE assembly): what `GET /api/health` answers,
 * what the retained MQTT health topic carries, what /metrics and the InfluxDB points are made
 * from. The service (health-service.ts) gathers the inputs; this file only shapes them.
 */
import type { PathHealth } from '../core/types.js';
import type { BusPollStats } from '../polling/types.js';
import type { TransportStats } from '../transport/types.js';
import { onlineRatio, type ObservedState, type OnlineTime } from './availability-timeline.js';
import { wireUtilisation } from './bus-utilisation.js';
import type { CounterDelta } from './counter-window.js';
import { onlineRollups, windowLabel, type DeviceIdentity, type RateRollup } from './online-rate.js';
import { devicePollHealth, type DevicePollHealth } from './poll-health.js';
import type { ProcessVitals } from './process-monitor.js';

/** What `Gateway.stats().buses` holds per bus. */
export interface BusStatsInput {
  poll: BusPollStats;
  transport: TransportStats;
}

/** The bus config fields utilisation needs. */
export interface BusLine {
  id: string;
  type: string;
  /** Serial line speed; absent for Modbus TCP (no wire limit). */
  baudRate?: number;
}

/** AlarmForwarding.stats(): the outbox and the alarm paths. */
export interface AlarmPathStats {
  pending: number;
  delivered: number;
  oldestPendingMs: number;
  accountsActive: number;
  escalations: number;
  paths: PathHealth[];
}

/** MqttBroker.stats(), plus the message counts of mqtt-message-counter.ts when attached. */
export interface BrokerStatsInput {
  clients: number;
  authFailures?: number;
  deniedPublishes?: number;
  deniedSubscriptions?: number;
  messagesIn?: number;
  messagesOut?: number;
}

/** What the InfluxDB writer reports (sinks/influx). */
export interface InfluxStatsInput {
  /** Points waiting in the disk spool. */
  spoolDepth: number;
  /** Age of the oldest point not yet written, ms (0 when caught up). */
  lagMs: number;
  written: number;
  dropped: number;
}

export interface OnlineWindow {
  /** `24h`, `1h`, ... */
  window: string;
  windowMs: number;
  site: RateRollup;
  buildings: Record<string, RateRollup>;
  kinds: Record<string, RateRollup>;
}

export interface DeviceOnlineRate extends OnlineTime {
  ratio: number;
}

export interface DeviceHealthEntry {
  device: string;
  profile: string;
  kind: string;
  building?: string;
  room?: string;
  bus?: string;
  /** The gateway's current verdict: `unknown` until the first answer (or for a device never seen). */
  availability: ObservedState;
  since?: number;
  /** Per window label. */
  online: Record<string, DeviceOnlineRate>;
  /** Poller counters; absent for MQTT-native devices. */
  poll?: DevicePollHealth;
}

export interface BusHealthEntry {
  bus: string;
  type: string;
  baudRate?: number;
  /** Fraction of the wire limit used over `rateWindowMs` (see bus-utilisation.ts); null for TCP or before a window exists. */
  utilisation: number | null;
  transactionsPerS: number | null;
  rateWindowMs: number | null;
  transactions: number;
  failures: number;
  exceptions: number;
  timeouts: number;
  crcErrors: number;
  frameErrors: number;
  reopens: number;
  queueDepth: number;
  queueHighWater: number;
  queueLimit: number;
  dropped: number;
  skipped: number;
  lastSweepMs?: number;
  devices: number;
  devicesOnline: number;
}

export interface BrokerHealth extends BrokerStatsInput {
  /** Messages per second over the rate window (when message counts are attached). */
  inPerS: number | null;
  outPerS: number | null;
}

export interface HealthSnapshot {
  site: string;
  ts: number;
  /** When the health service started watching. */
  startedAt: number;
  uptimeS: number;
  deviceCounts: { total: number; online: number; offline: number; unknown: number };
  online: OnlineWindow[];
  buses: BusHealthEntry[];
  outbox: { depth: number; delivered: number; oldestPendingMs: number; escalations: number };
  /** AlarmForwarding.stats() as is (the alarm path view `/api/health` always had). */
  alarmPath: AlarmPathStats;
  /** Null when no InfluxDB writer is configured. */
  spool: InfluxStatsInput | null;
  broker: BrokerHealth;
  process: ProcessVitals;
  devices: DeviceHealthEntry[];
}

/** `/api/health` and the MQTT health topic: everything but the per-device list. */
export type HealthSummary = Omit<HealthSnapshot, 'devices'>;

export interface SnapshotInput {
  site: string;
  ts: number;
  startedAt: number;
  devices: readonly DeviceIdentity[];
  /** Per window length, each device's online time. */
  onlineTimes: ReadonlyMap<number, ReadonlyMap<string, OnlineTime>>;
  current: (device: string) => { state: ObservedState; since: number } | undefined;
  buses: readonly BusStatsInput[];
  busLines: readonly BusLine[];
  /** Transport counter growth per bus over the rate window. */
  busDeltas: ReadonlyMap<string, CounterDelta<'wireMs' | 'requests' | 'responses'>>;
  alarmPath: AlarmPathStats;
  broker: BrokerStatsInput;
  brokerDelta: CounterDelta<'messagesIn' | 'messagesOut'> | undefined;
  influx: InfluxStatsInput | undefined;
  process: ProcessVitals;
}

export function buildSnapshot(input: SnapshotInput): HealthSnapshot {
  const pollOf = new Map<string, BusPollStats['devices'][string]>();
  for (const b of input.buses) for (const [id, s] of Object.entries(b.poll.devices)) pollOf.set(id, s);

  const windows = [...input.onlineTimes.keys()].sort((a, b) => b - a);
  const devices: DeviceHealthEntry[] = input.devices.map((d) => {
    const cur = input.current(d.id);
    const online: Record<string, DeviceOnlineRate> = {};
    for (const w of windows) {
      const t = input.onlineTimes.get(w)!.get(d.id) ?? { onlineMs: 0, observedMs: 0 };
      online[windowLabel(w)] = { ...t, ratio: onlineRatio(t) };
    }
    const e: DeviceHealthEntry = { device: d.id, profile: d.profile, kind: d.kind, availability: cur?.state ?? 'unknown', online };
    if (d.building !== undefined) e.building = d.building;
    if (d.room !== undefined) e.room = d.room;
    if (d.bus !== undefined) e.bus = d.bus;
    if (cur) e.since = cur.since;
    const poll = pollOf.get(d.id);
    if (poll) e.poll = devicePollHealth(poll);
    return e;
  });

  const deviceCounts = { total: devices.length, online: 0, offline: 0, unknown: 0 };
  for (const d of devices) deviceCounts[d.availability]++;

  const lineOf = new Map(input.busLines.map((l) => [l.id, l]));
  const availabilityOf = new Map(devices.map((d) => [d.device, d.availability]));
  const buses: BusHealthEntry[] = input.buses.map((b) => {
    const line = lineOf.get(b.poll.bus);
    const delta = input.busDeltas.get(b.poll.bus);
    const ids = Object.keys(b.poll.devices);
    const entry: BusHealthEntry = {
      bus: b.poll.bus,
      type: line?.type ?? 'unknown',
      utilisation: delta ? (wireUtilisation(delta.d, delta.elapsedMs, line?.baudRate) ?? null) : null,
      transactionsPerS: delta ? (delta.d.requests * 1000) / delta.elapsedMs : null,
      rateWindowMs: delta?.elapsedMs ?? null,
      transactions: b.poll.transactions,
      failures: b.poll.failures,
      exceptions: b.poll.exceptions,
      timeouts: b.transport.timeouts,
      crcErrors: b.transport.crcErrors,
      frameErrors: b.transport.frameErrors,
      reopens: b.transport.reopens,
      queueDepth: b.poll.queueDepth,
      queueHighWater: b.poll.queueHighWater,
      queueLimit: b.poll.queueLimit,
      dropped: b.poll.dropped,
      skipped: b.poll.skipped,
      devices: ids.length,
      devicesOnline: ids.filter((id) => availabilityOf.get(id) === 'online').length,
    };
    if (line?.baudRate !== undefined) entry.baudRate = line.baudRate;
    if (b.poll.lastSweepMs !== undefined) entry.lastSweepMs = b.poll.lastSweepMs;
    return entry;
  });

  const online: OnlineWindow[] = windows.map((w) => ({ window: windowLabel(w), windowMs: w, ...onlineRollups(input.devices, input.onlineTimes.get(w)!) }));
  const bd = input.brokerDelta;
  const hasCounts = input.broker.messagesIn !== undefined;
  return {
    site: input.site,
    ts: input.ts,
    startedAt: input.startedAt,
    uptimeS: input.process.uptimeS,
    deviceCounts,
    online,
    buses,
    outbox: {
      depth: input.alarmPath.pending,
      delivered: input.alarmPath.delivered,
      oldestPendingMs: input.alarmPath.oldestPendingMs,
      escalations: input.alarmPath.escalations,
    },
    alarmPath: input.alarmPath,
    spool: input.influx ?? null,
    broker: {
      ...input.broker,
      inPerS: hasCounts && bd ? (bd.d.messagesIn * 1000) / bd.elapsedMs : null,
      outPerS: hasCounts && bd ? (bd.d.messagesOut * 1000) / bd.elapsedMs : null,
    },
    process: input.process,
    devices,
  };
}

export function summaryOf(s: HealthSnapshot): HealthSummary {
  const { devices: _devices, ...summary } = s;
  return summary;
}
