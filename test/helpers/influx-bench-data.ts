/**
 * The workload of the InfluxDB benches (test/bench/influx-write.bench.ts, influx-spool.bench.ts):
 * lock readings from 500 devices, one millisecond apart, and device identities handed to the
 * sink the way the gateway's app.ts does it.
 */
import type { Point } from '../../gateway/src/core/types.js';
import type { InfluxDeviceInfo } from '../../gateway/src/sinks/influx/schema.js';
import { deviceInfo, lockReading } from './influx-kit.js';

export const BENCH_DEVICES = 500;
/** Timestamps of the spool bench's readings (fixed: the replay is checked against them). */
export const SPOOL_BENCH_BASE = 1_790_000_000_000;

const identities = new Map(Array.from({ length: BENCH_DEVICES }, (_, n) => [`lock-${n}`, deviceInfo(`lock-${n}`)!]));

/**
 * Device identity as app.ts gives it to the sink: a Map lookup and a fresh object per call
 * (influx-kit's deviceInfo parses the id, which would bill the bench's string work to the sink).
 */
export function gatewayDeviceInfo(device: string): InfluxDeviceInfo | undefined {
  const d = identities.get(device);
  return d ? { profile: d.profile, kind: d.kind, ...(d.location ? { location: d.location } : {}) } : undefined;
}

/** Reading i: device lock-(i mod 500), event_seq i, timestamp base + i ms (one line of ~166 bytes). */
export function benchReading(i: number, base: number): { device: string; points: Point[] } {
  const device = `lock-${i % BENCH_DEVICES}`;
  return { device, points: lockReading(device, i, base + i) };
}
