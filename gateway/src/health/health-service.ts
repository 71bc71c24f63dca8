/**
 * The gateway's health: gathers online rates (availability-tracker.ts), poll and bus counters,
 * the alarm outbox, the InfluxDB spool, the MQTT broker and the process into one snapshot
 * (health-snapshot.ts), and every `intervalMs` publishes it as a retained MQTT message and
 * writes it to InfluxDB. HTTP exposure is health-routes.ts; Prometheus is metrics.ts.
 *
 * Everything it reads comes in as functions, so it holds no reference to the modules it
 * watches and can be built around a running gateway (tests) as easily as in app.ts.
 */
import type { EventBus } from '../core/event-bus.js';
import type { DeviceLocation } from '../core/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { Topics } from '../sinks/mqtt/topics.js';
import { AvailabilityTracker, type StatusHistorySource } from './availability-tracker.js';
import { CounterWindow } from './counter-window.js';
import { healthPoints, type HealthPoint } from './health-points.js';
import {
  buildSnapshot,
  summaryOf,
  type AlarmPathStats,
  type BrokerStatsInput,
  type BusLine,
  type BusStatsInput,
  type HealthSnapshot,
  type HealthSummary,
  type InfluxStatsInput,
} from './health-snapshot.js';
import { createHealthMetrics, type HealthMetrics } from './metrics.js';
import type { DeviceIdentity } from './online-rate.js';
import { ObservationLog } from './observation-log.js';
import { ProcessMonitor } from './process-monitor.js';

export const HOUR_MS = 3_600_000;
export const DEFAULT_WINDOWS_MS: readonly number[] = [24 * HOUR_MS, HOUR_MS];
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;
/** Rates (bus utilisation, tx/s, MQTT messages/s) are averaged over about this long. */
export const DEFAULT_RATE_WINDOW_MS = 60_000;

export interface HealthDevice {
  id: string;
  /** Profile id. */
  profile: string;
  /** Device kind from the profile. */
  kind: string;
  location?: DeviceLocation;
  /** Bus id; absent for MQTT-native devices. */
  bus?: string;
}

export interface HealthServiceOptions {
  site: string;
  devices: readonly HealthDevice[];
  /** Bus configs (id, type, baudRate) for the wire limit; without them utilisation is not computed. */
  buses?: readonly BusLine[];
  bus: EventBus;
  /** The store (its status history seeds the online rates at start). */
  store?: { statusHistory: StatusHistorySource };
  busStats: () => readonly BusStatsInput[];
  forwardingStats: () => AlarmPathStats;
  brokerStats: () => BrokerStatsInput;
  influxStats?: () => InfluxStatsInput;
  /** Publishes the retained health message (`shouwang/<site>/gateway/health`). */
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Writes the health points to InfluxDB (measurements gateway_health, device_health, bus_health). */
  writePoints?: (points: HealthPoint[]) => void;
  log: Logger;
  now?: () => number;
  /** Online-rate windows, ms (default 24 h and 1 h). */
  windowsMs?: readonly number[];
  /** MQTT publish + InfluxDB write period, ms (default 10 s). */
  intervalMs?: number;
  rateWindowMs?: number;
  /** MQTT topic prefix (mqtt.topicPrefix), default `shouwang`. */
  topicPrefix?: string;
  /**
   * File where the service records when it was watching (observation-log.ts), so that online
   * rates survive a restart without counting the gateway's own downtime. Without it, rates
   * cover the current run only.
   */
  stateFile?: string;
  /** When the gateway began watching the devices, if before start() (default: start()). */
  observingSince?: number;
  /** Register prom-client's default process metrics on /metrics (default true). */
  processMetrics?: boolean;
}

type WireKey = 'wireMs' | 'requests' | 'responses';
type MessageKey = 'messagesIn' | 'messagesOut';

export class HealthService {
  readonly topic: string;
  readonly metrics: HealthMetrics;
  private readonly opts: HealthServiceOptions;
  private readonly now: () => number;
  private readonly windowsMs: readonly number[];
  private readonly intervalMs: number;
  private readonly rateWindowMs: number;
  private readonly identities: DeviceIdentity[];
  private readonly tracker: AvailabilityTracker;
  private readonly processMonitor = new ProcessMonitor();
  private readonly busWindows = new Map<string, CounterWindow<WireKey>>();
  private readonly brokerWindow: CounterWindow<MessageKey>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private publishing = false;
  private failing = { publish: false, write: false, tick: false };

  constructor(opts: HealthServiceOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.windowsMs = [...(opts.windowsMs ?? DEFAULT_WINDOWS_MS)].sort((a, b) => b - a);
    if (this.windowsMs.length === 0 || this.windowsMs.some((w) => !(w > 0))) throw new Error('health windowsMs: expected one or more positive durations');
    this.intervalMs = opts.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    this.rateWindowMs = opts.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
    this.topic = new Topics({ prefix: opts.topicPrefix ?? 'shouwang', site: opts.site }).gatewayHealth();
    this.identities = opts.devices.map((d) => {
      const id: DeviceIdentity = { id: d.id, profile: d.profile, kind: d.kind };
      if (d.location?.building !== undefined) id.building = d.location.building;
      if (d.location?.room !== undefined) id.room = d.location.room;
      if (d.bus !== undefined) id.bus = d.bus;
      return id;
    });
    this.tracker = new AvailabilityTracker({
      devices: this.identities.map((d) => d.id),
      bus: opts.bus,
      horizonMs: this.windowsMs[0]!,
      now: this.now,
      log: opts.log,
      ...(opts.store ? { statusHistory: (q) => opts.store!.statusHistory(q) } : {}),
      ...(opts.stateFile ? { observationLog: new ObservationLog({ file: opts.stateFile, log: opts.log }) } : {}),
      ...(opts.observingSince === undefined ? {} : { observingSince: opts.observingSince }),
    });
    this.brokerWindow = new CounterWindow<MessageKey>(this.rateWindowMs);
    this.metrics = createHealthMetrics(() => this.snapshot(), {
      site: opts.site,
      influx: opts.influxStats !== undefined,
      ...(opts.processMetrics === undefined ? {} : { processMetrics: opts.processMetrics }),
    });
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = this.now();
    this.tracker.start();
    this.processMonitor.start();
    this.sampleRates();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    this.log.info({ topic: this.topic, intervalMs: this.intervalMs, windows: this.windowsMs }, 'health service started');
  }

  /** Stop the timers and close the observation span. Does not publish an offline state: the broker's gateway/status does that. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tracker.stop();
    this.processMonitor.stop();
  }

  /** Everything, with the per-device list. */
  snapshot(): HealthSnapshot {
    const ts = this.now();
    const buses = this.safe('bus stats', () => this.opts.busStats(), []);
    const busDeltas = new Map<string, NonNullable<ReturnType<CounterWindow<WireKey>['delta']>>>();
    for (const b of buses) {
      const window = this.busWindows.get(b.poll.bus);
      const d = window?.delta(ts, wireCounters(b));
      if (d) busDeltas.set(b.poll.bus, d);
      // A bus built after start() (app.ts builds the buses last): its window starts now, not at the next tick.
      if (!window) this.rateWindowOf(b.poll.bus).add(ts, wireCounters(b));
    }
    const broker = this.safe('broker stats', () => this.opts.brokerStats(), { clients: 0 });
    const influx = this.opts.influxStats ? this.safe('influx stats', this.opts.influxStats, undefined) : undefined;
    return buildSnapshot({
      site: this.opts.site,
      ts,
      startedAt: this.startedAt,
      devices: this.identities,
      onlineTimes: new Map(this.windowsMs.map((w) => [w, this.tracker.onlineTimes(w)])),
      current: (d) => this.tracker.current(d),
      buses,
      busLines: this.opts.buses ?? [],
      busDeltas,
      alarmPath: this.safe('forwarding stats', () => this.opts.forwardingStats(), { pending: 0, delivered: 0, oldestPendingMs: 0, accountsActive: 0, escalations: 0, paths: [] }),
      broker,
      brokerDelta: broker.messagesIn === undefined ? undefined : this.brokerWindow.delta(ts, messageCounters(broker)),
      influx,
      process: this.processMonitor.read(),
    });
  }

  /** `/api/health` and the MQTT payload: the snapshot without the per-device list. */
  summary(): HealthSummary {
    return summaryOf(this.snapshot());
  }

  /** One period: publish, write, and keep the rate windows and the observation log going. */
  async tick(): Promise<void> {
    try {
      this.tracker.heartbeat();
      // Close the event-loop period first: the figures published are those of the period just ended.
      this.processMonitor.roll();
      const snap = this.snapshot();
      this.sampleRates();
      this.write(snap);
      await this.publishSummary(summaryOf(snap));
      this.failing.tick = false;
    } catch (err) {
      if (!this.failing.tick) this.log.error({ err: errorMessage(err) }, 'health tick failed');
      this.failing.tick = true;
    }
  }

  private sampleRates(): void {
    const ts = this.now();
    for (const b of this.safe('bus stats', () => this.opts.busStats(), [])) this.rateWindowOf(b.poll.bus).add(ts, wireCounters(b));
    const broker = this.safe('broker stats', () => this.opts.brokerStats(), { clients: 0 });
    if (broker.messagesIn !== undefined) this.brokerWindow.add(ts, messageCounters(broker));
  }

  private rateWindowOf(bus: string): CounterWindow<WireKey> {
    let w = this.busWindows.get(bus);
    if (!w) {
      w = new CounterWindow<WireKey>(this.rateWindowMs);
      this.busWindows.set(bus, w);
    }
    return w;
  }

  private write(snap: HealthSnapshot): void {
    const write = this.opts.writePoints;
    if (!write) return;
    try {
      write(healthPoints(snap));
      this.failing.write = false;
    } catch (err) {
      if (!this.failing.write) this.log.warn({ err: errorMessage(err) }, 'cannot write health points to InfluxDB');
      this.failing.write = true;
    }
  }

  private async publishSummary(summary: HealthSummary): Promise<void> {
    const publish = this.opts.publish;
    // A broker that takes longer than a period must not pile up health messages.
    if (!publish || this.publishing) return;
    this.publishing = true;
    try {
      await publish(this.topic, JSON.stringify(summary));
      this.failing.publish = false;
    } catch (err) {
      if (!this.failing.publish) this.log.warn({ topic: this.topic, err: errorMessage(err) }, 'cannot publish gateway health');
      this.failing.publish = true;
    } finally {
      this.publishing = false;
    }
  }

  /** One failing source must not take the whole health view down with it. */
  private safe<T>(what: string, read: () => T, fallback: T): T {
    try {
      return read();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, `health: cannot read ${what}`);
      return fallback;
    }
  }
}

function wireCounters(b: BusStatsInput): Record<WireKey, number> {
  return { wireMs: b.transport.wireMs, requests: b.transport.requests, responses: b.transport.responses };
}

function messageCounters(b: BrokerStatsInput): Record<MessageKey, number> {
  return { messagesIn: b.messagesIn ?? 0, messagesOut: b.messagesOut ?? 0 };
}
