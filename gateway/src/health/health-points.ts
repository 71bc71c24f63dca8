/**
 * The health snapshot as InfluxDB points (PURE): measurements `gateway_health` (one point),
 * `device_health` (one per device) and `bus_health` (one per bus). Every field is a number and
 * is meant to be written as a float: InfluxDB fixes a field's type on first write, and a ratio
 * that happens to be exactly 1 must not become an integer field.
 *
 * Tags follow the telemetry schema (site, building, room, device, profile) plus kind and bus.
 */
import type { HealthSnapshot } from './health-snapshot.js';
import { buildingOf } from './online-rate.js';

export interface HealthPoint {
  measurement: 'gateway_health' | 'device_health' | 'bus_health';
  tags: Record<string, string>;
  /** Numbers only; write them as floats. */
  fields: Record<string, number>;
  /** ms since epoch. */
  ts: number;
}

const AVAILABILITY_CODE = { online: 1, offline: 0, unknown: -1 } as const;

/** `24h` -> `online_ratio_24h` */
const ratioField = (window: string) => `online_ratio_${window}`;

export function healthPoints(s: HealthSnapshot): HealthPoint[] {
  const points: HealthPoint[] = [];
  const gw: Record<string, number> = {
    uptime_s: s.uptimeS,
    devices: s.deviceCounts.total,
    devices_online: s.deviceCounts.online,
    devices_offline: s.deviceCounts.offline,
    devices_unknown: s.deviceCounts.unknown,
    outbox_depth: s.outbox.depth,
    outbox_oldest_pending_ms: s.outbox.oldestPendingMs,
    alarms_delivered: s.outbox.delivered,
    mqtt_clients: s.broker.clients,
    rss_bytes: s.process.rssBytes,
    heap_used_bytes: s.process.heapUsedBytes,
    event_loop_lag_mean_ms: s.process.eventLoopLag.meanMs,
    event_loop_lag_p99_ms: s.process.eventLoopLag.p99Ms,
    event_loop_lag_max_ms: s.process.eventLoopLag.maxMs,
  };
  for (const w of s.online) gw[ratioField(w.window)] = w.site.ratio;
  if (s.spool) {
    gw.spool_depth = s.spool.spoolDepth;
    gw.influx_lag_ms = s.spool.lagMs;
    gw.influx_written = s.spool.written;
    gw.influx_dropped = s.spool.dropped;
  }
  if (s.broker.messagesIn !== undefined) gw.mqtt_messages_in = s.broker.messagesIn;
  if (s.broker.messagesOut !== undefined) gw.mqtt_messages_out = s.broker.messagesOut;
  if (s.broker.inPerS !== null) gw.mqtt_in_per_s = s.broker.inPerS;
  if (s.broker.outPerS !== null) gw.mqtt_out_per_s = s.broker.outPerS;
  points.push({ measurement: 'gateway_health', tags: { site: s.site }, fields: gw, ts: s.ts });

  for (const d of s.devices) {
    const tags: Record<string, string> = { site: s.site, building: buildingOf(d), device: d.device, profile: d.profile, kind: d.kind };
    if (d.room !== undefined) tags.room = d.room;
    if (d.bus !== undefined) tags.bus = d.bus;
    const fields: Record<string, number> = { online: AVAILABILITY_CODE[d.availability] };
    for (const [window, rate] of Object.entries(d.online)) {
      fields[ratioField(window)] = rate.ratio;
      // Seconds too, so that queries can roll up time-weighted (Σ online / Σ observed).
      fields[`online_s_${window}`] = rate.onlineMs / 1000;
      fields[`observed_s_${window}`] = rate.observedMs / 1000;
    }
    const p = d.poll;
    if (p) {
      fields.poll_success = p.success;
      fields.poll_failures = p.failures;
      if (p.successRatio !== null) fields.poll_success_ratio = p.successRatio;
      fields.errors_exception = p.errors.exception;
      fields.errors_no_answer = p.errors.noAnswer;
      fields.errors_timeout = p.errors.timeout;
      fields.errors_crc = p.errors.crc;
      fields.errors_frame = p.errors.frame;
      fields.breaker_open = p.breaker === 'open' ? 1 : 0;
      fields.breaker_trips = p.breakerTrips;
      if (p.responseTime.meanMs !== null) fields.response_mean_ms = p.responseTime.meanMs;
      if (p.responseTime.p95UpperMs !== null) fields.response_p95_ms = p.responseTime.p95UpperMs;
      if (p.lastResponseMs !== undefined) fields.last_response_ms = p.lastResponseMs;
    }
    points.push({ measurement: 'device_health', tags, fields, ts: s.ts });
  }

  for (const b of s.buses) {
    const fields: Record<string, number> = {
      transactions: b.transactions,
      failures: b.failures,
      exceptions: b.exceptions,
      timeouts: b.timeouts,
      crc_errors: b.crcErrors,
      frame_errors: b.frameErrors,
      reopens: b.reopens,
      queue_depth: b.queueDepth,
      dropped: b.dropped,
      devices: b.devices,
      devices_online: b.devicesOnline,
    };
    if (b.utilisation !== null) fields.utilisation = b.utilisation;
    if (b.transactionsPerS !== null) fields.tx_per_s = b.transactionsPerS;
    if (b.lastSweepMs !== undefined) fields.last_sweep_ms = b.lastSweepMs;
    points.push({ measurement: 'bus_health', tags: { site: s.site, bus: b.bus, type: b.type }, fields, ts: s.ts });
  }
  return points;
}
