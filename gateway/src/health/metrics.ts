/**
 * Prometheus metrics of the gateway on a registry of its own (never prom-client's global one:
 * a library user or a second gateway in the same process must not collide). Every value is
 * read from a health snapshot when scraped, so /metrics is as fresh as the scrape and costs
 * nothing between scrapes. docs/health.md lists the metrics.
 *
 * Counters are the pollers' and transports' own monotonic counters, re-exposed as they are
 * (prom-client counters are set from them on each scrape); `rate()` works on them as usual.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { HealthSnapshot } from './health-snapshot.js';
import { buildingOf } from './online-rate.js';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export interface HealthMetricsOptions {
  site: string;
  /** Also register prom-client's default process metrics (CPU, RSS, heap, event-loop lag, GC). Default true. */
  processMetrics?: boolean;
  /** Register the InfluxDB writer's metrics (spool depth, lag, written, dropped). */
  influx?: boolean;
}

export interface HealthMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text, from a fresh snapshot. */
  scrape(): Promise<string>;
}

/** A snapshot is reused by the collectors of one scrape (they run together), never across scrapes. */
const SNAPSHOT_REUSE_MS = 250;

type Labels = Record<string, string>;

/**
 * A histogram whose buckets come from elsewhere (the pollers' response-time histograms): it
 * reports them as they are instead of re-observing values. prom-client's Histogram can only
 * observe, so this small class speaks the registry's metric interface itself.
 */
class SnapshotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly series: () => Array<{ labels: Labels; boundsS: readonly number[]; counts: readonly number[]; sumS: number; count: number }>,
  ) {}

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<{ metricName: string; labels: Labels; value: number }> }> {
    const values: Array<{ metricName: string; labels: Labels; value: number }> = [];
    for (const s of this.series()) {
      let cumulative = 0;
      s.boundsS.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: String(le) }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sumS });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {}
}

export function createHealthMetrics(source: () => HealthSnapshot, opts: HealthMetricsOptions): HealthMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ site: opts.site });
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  let cached: { at: number; snap: HealthSnapshot } | undefined;
  const snap = (): HealthSnapshot => {
    const now = performance.now();
    if (!cached || now - cached.at > SNAPSHOT_REUSE_MS) cached = { at: now, snap: source() };
    return cached.snap;
  };
  const registers = [registry];

  /** A gauge refilled from the snapshot on each scrape. */
  const gauge = (name: string, help: string, labelNames: string[], fill: (s: HealthSnapshot, set: (labels: Labels, v: number) => void) => void): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill(snap(), (labels, v) => this.set(labels, v));
      },
    });
  };
  /** A counter set to the source's own monotonic count on each scrape. */
  const counter = (name: string, help: string, labelNames: string[], fill: (s: HealthSnapshot, set: (labels: Labels, v: number) => void) => void): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill(snap(), (labels, v) => this.inc(labels, Math.max(0, v)));
      },
    });
  };
  const deviceLabels = (d: HealthSnapshot['devices'][number]): Labels => ({ device: d.device, building: buildingOf(d), kind: d.kind });
  const pollLabels = (d: HealthSnapshot['devices'][number]): Labels => ({ device: d.device, bus: d.bus ?? '' });

  // --- online / offline ------------------------------------------------------------------------
  gauge('shouwang_device_online', 'Device is online now (1), offline or not yet seen (0)', ['device', 'building', 'kind'], (s, set) => {
    for (const d of s.devices) set(deviceLabels(d), d.availability === 'online' ? 1 : 0);
  });
  gauge('shouwang_devices', 'Configured devices by current state (unknown = not yet seen)', ['state'], (s, set) => {
    for (const state of ['online', 'offline', 'unknown'] as const) set({ state }, s.deviceCounts[state]);
  });
  gauge('shouwang_device_online_ratio', 'Online time / observed time of a device over the window', ['device', 'building', 'kind', 'window'], (s, set) => {
    for (const d of s.devices) for (const [window, r] of Object.entries(d.online)) set({ ...deviceLabels(d), window }, r.ratio);
  });
  gauge('shouwang_device_online_seconds', 'Seconds a device was online within the window (for time-weighted roll-ups in PromQL)', ['device', 'building', 'kind', 'window'], (s, set) => {
    for (const d of s.devices) for (const [window, r] of Object.entries(d.online)) set({ ...deviceLabels(d), window }, r.onlineMs / 1000);
  });
  gauge('shouwang_device_observed_seconds', 'Seconds the gateway watched a device within the window', ['device', 'building', 'kind', 'window'], (s, set) => {
    for (const d of s.devices) for (const [window, r] of Object.entries(d.online)) set({ ...deviceLabels(d), window }, r.observedMs / 1000);
  });
  gauge('shouwang_site_online_ratio', 'Online rate of the whole site over the window (time-weighted over devices)', ['window'], (s, set) => {
    for (const w of s.online) set({ window: w.window }, w.site.ratio);
  });
  gauge('shouwang_building_online_ratio', 'Online rate per building over the window (time-weighted)', ['building', 'window'], (s, set) => {
    for (const w of s.online) for (const [building, r] of Object.entries(w.buildings)) set({ building, window: w.window }, r.ratio);
  });
  gauge('shouwang_kind_online_ratio', 'Online rate per device kind over the window (time-weighted)', ['kind', 'window'], (s, set) => {
    for (const w of s.online) for (const [kind, r] of Object.entries(w.kinds)) set({ kind, window: w.window }, r.ratio);
  });

  // --- polling -----------------------------------------------------------------------------------
  registry.registerMetric(
    new SnapshotHistogram('shouwang_poll_duration_seconds', 'Response time of answered poll transactions (request written to reply parsed)', () =>
      snap()
        .devices.filter((d) => d.poll)
        .map((d) => {
          const h = d.poll!.responseTime;
          return { labels: pollLabels(d), boundsS: h.bucketsMs.map((ms) => ms / 1000), counts: h.counts, sumS: h.sumMs / 1000, count: h.count };
        }),
    ) as unknown as Metric,
  );
  counter('shouwang_poll_requests_total', 'Poll transactions (reads and writes) by result', ['device', 'bus', 'result'], (s, set) => {
    for (const d of s.devices) {
      if (!d.poll) continue;
      set({ ...pollLabels(d), result: 'success' }, d.poll.success);
      set({ ...pollLabels(d), result: 'failure' }, d.poll.failures);
    }
  });
  gauge('shouwang_poll_success_ratio', 'Successful / all poll transactions of a device since the gateway started', ['device', 'bus'], (s, set) => {
    for (const d of s.devices) if (d.poll?.successRatio !== null && d.poll?.successRatio !== undefined) set(pollLabels(d), d.poll.successRatio);
  });
  counter(
    'shouwang_poll_errors_total',
    'Failed poll transactions by type: exception (device refused), timeout, crc (bad CRC or checksum), frame (malformed reply), no_answer (the rest: bus closed, other errors)',
    ['device', 'bus', 'type'],
    (s, set) => {
      for (const d of s.devices) {
        const e = d.poll?.errors;
        if (!e) continue;
        set({ ...pollLabels(d), type: 'exception' }, e.exception);
        set({ ...pollLabels(d), type: 'no_answer' }, e.noAnswer);
        set({ ...pollLabels(d), type: 'timeout' }, e.timeout);
        set({ ...pollLabels(d), type: 'crc' }, e.crc);
        set({ ...pollLabels(d), type: 'frame' }, e.frame);
      }
    },
  );
  counter('shouwang_breaker_trips_total', 'Times a device circuit breaker opened', ['device', 'bus'], (s, set) => {
    for (const d of s.devices) if (d.poll) set(pollLabels(d), d.poll.breakerTrips);
  });
  gauge('shouwang_breaker_open', 'Device circuit breaker is open now', ['device', 'bus'], (s, set) => {
    for (const d of s.devices) if (d.poll) set(pollLabels(d), d.poll.breaker === 'open' ? 1 : 0);
  });

  // --- buses -------------------------------------------------------------------------------------
  gauge('shouwang_bus_utilisation_ratio', 'Fraction of the serial wire limit in use (frames + t3.5 silences / elapsed) over the last rate window', ['bus'], (s, set) => {
    for (const b of s.buses) if (b.utilisation !== null) set({ bus: b.bus }, b.utilisation);
  });
  counter('shouwang_bus_transactions_total', 'Transactions attempted on a bus', ['bus'], (s, set) => {
    for (const b of s.buses) set({ bus: b.bus }, b.transactions);
  });
  counter('shouwang_bus_errors_total', 'Transport errors on a bus by type', ['bus', 'type'], (s, set) => {
    for (const b of s.buses) {
      set({ bus: b.bus, type: 'timeout' }, b.timeouts);
      set({ bus: b.bus, type: 'crc' }, b.crcErrors);
      set({ bus: b.bus, type: 'frame' }, b.frameErrors);
      set({ bus: b.bus, type: 'exception' }, b.exceptions);
    }
  });
  gauge('shouwang_bus_queue_depth', 'Reads and commands waiting for a bus', ['bus'], (s, set) => {
    for (const b of s.buses) set({ bus: b.bus }, b.queueDepth);
  });
  counter('shouwang_bus_dropped_reads_total', 'Reads not queued because the bus queue was full', ['bus'], (s, set) => {
    for (const b of s.buses) set({ bus: b.bus }, b.dropped);
  });

  // --- process -----------------------------------------------------------------------------------
  gauge('shouwang_outbox_depth', 'Alarm messages in the outbox not yet delivered', [], (s, set) => set({}, s.outbox.depth));
  gauge('shouwang_outbox_oldest_pending_seconds', 'Age of the oldest undelivered alarm', [], (s, set) => set({}, s.outbox.oldestPendingMs / 1000));
  if (opts.influx) {
    gauge('shouwang_spool_depth', 'Telemetry points waiting in the disk spool for InfluxDB', [], (s, set) => {
      if (s.spool) set({}, s.spool.spoolDepth);
    });
    gauge('shouwang_influx_lag_seconds', 'Age of the oldest point not yet written to InfluxDB', [], (s, set) => {
      if (s.spool) set({}, s.spool.lagMs / 1000);
    });
    counter('shouwang_influx_points_written_total', 'Points written to InfluxDB', [], (s, set) => {
      if (s.spool) set({}, s.spool.written);
    });
    counter('shouwang_influx_points_dropped_total', 'Points dropped by the spool overflow policy', [], (s, set) => {
      if (s.spool) set({}, s.spool.dropped);
    });
  }
  gauge('shouwang_mqtt_clients', 'Clients connected to the embedded MQTT broker', [], (s, set) => set({}, s.broker.clients));
  counter('shouwang_mqtt_messages_total', 'MQTT messages through the broker, by who published them', ['source'], (s, set) => {
    if (s.broker.messagesIn !== undefined) set({ source: 'client' }, s.broker.messagesIn);
    if (s.broker.messagesOut !== undefined) set({ source: 'gateway' }, s.broker.messagesOut);
  });

  return {
    registry,
    contentType: METRICS_CONTENT_TYPE,
    scrape: () => {
      cached = undefined;
      return registry.metrics();
    },
  };
}
