/**
 * Per-device and per-bus poll health from the pollers' own counters (PURE): success rate,
 * error breakdown, breaker trips and the response-time histogram summary.
 *
 * Failures are broken down by what the poller saw: a Modbus exception, a timeout, a CRC (or
 * checksum) error, a malformed frame; `noAnswer` keeps the rest (the bus was closed, other
 * errors), so the types always add up to `failures`.
 */
import type { HistogramSnapshot } from '../polling/histogram.js';
import type { DevicePollStats } from '../polling/types.js';

export interface ResponseTimeSummary {
  count: number;
  sumMs: number;
  meanMs: number | null;
  /** Upper bound of the bucket holding the median / 95th percentile; null when above the last bucket or no data. */
  p50UpperMs: number | null;
  p95UpperMs: number | null;
  bucketsMs: readonly number[];
  /** Per bucket (not cumulative); the last entry counts answers slower than every bound. */
  counts: number[];
}

export interface PollErrorCounts {
  timeout: number;
  crc: number;
  frame: number;
  /** Modbus exception replies: the device answered, but refused the read. */
  exception: number;
  /** The other failures with no usable answer: transport closed, other errors. */
  noAnswer: number;
}

export interface DevicePollHealth {
  availability: DevicePollStats['availability'];
  success: number;
  failures: number;
  /** success / (success + failures) since the gateway started; null before the first transaction. */
  successRatio: number | null;
  errors: PollErrorCounts;
  breaker: DevicePollStats['breaker'];
  breakerTrips: number;
  consecutiveFailures: number;
  lastResponseMs?: number;
  lastResponseAt?: number;
  responseTime: ResponseTimeSummary;
}

export function quantileUpperBoundMs(h: HistogramSnapshot, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i]!;
    if (seen >= rank) return i < h.bucketsMs.length ? h.bucketsMs[i]! : null;
  }
  return null;
}

export function summariseResponseTime(h: HistogramSnapshot): ResponseTimeSummary {
  return {
    count: h.count,
    sumMs: h.sumMs,
    meanMs: h.count > 0 ? h.sumMs / h.count : null,
    p50UpperMs: quantileUpperBoundMs(h, 0.5),
    p95UpperMs: quantileUpperBoundMs(h, 0.95),
    bucketsMs: h.bucketsMs,
    counts: [...h.counts],
  };
}

export function pollErrors(s: DevicePollStats): PollErrorCounts {
  const classified = s.exceptions + s.timeouts + s.crcErrors + s.frameErrors;
  return { exception: s.exceptions, timeout: s.timeouts, crc: s.crcErrors, frame: s.frameErrors, noAnswer: Math.max(0, s.failures - classified) };
}

export function devicePollHealth(s: DevicePollStats): DevicePollHealth {
  const total = s.success + s.failures;
  const h: DevicePollHealth = {
    availability: s.availability,
    success: s.success,
    failures: s.failures,
    successRatio: total > 0 ? s.success / total : null,
    errors: pollErrors(s),
    breaker: s.breaker,
    breakerTrips: s.breakerTrips,
    consecutiveFailures: s.consecutiveFailures,
    responseTime: summariseResponseTime(s.responseTime),
  };
  if (s.lastResponseMs !== undefined) h.lastResponseMs = s.lastResponseMs;
  if (s.lastResponseAt !== undefined) h.lastResponseAt = s.lastResponseAt;
  return h;
}
