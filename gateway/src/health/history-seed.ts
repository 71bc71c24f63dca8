/**
 * Rebuild the devices' availability timelines at start (PURE): the spans the gateway was
 * watching (observation-log.ts) give the observed time, the store's status history gives the
 * changes inside them. A status record is itself proof that the gateway was running when it
 * was written, so records after a span's last heartbeat (a crash between two heartbeats)
 * extend that span up to the last record — never into the time of this process.
 */
import type { DeviceStatus } from '../core/types.js';
import { AvailabilityTimeline } from './availability-timeline.js';
import type { ObservationSpan } from './observation-log.js';

export interface SeedInput {
  /** Devices configured now; others in the history are ignored. */
  devices: readonly string[];
  /** Spans of earlier runs, any order. */
  spans: readonly ObservationSpan[];
  /** Status records, newest first as `Store.statusHistory` returns them. */
  records: readonly DeviceStatus[];
  /** When this process started: records from then on belong to this run, not to an earlier span. */
  runStart: number;
  /** When this run began watching the devices: the live span starts here, in `unknown`. */
  observingSince: number;
  now: number;
}

export function seedTimelines(input: SeedInput): Map<string, AvailabilityTimeline> {
  const configured = new Set(input.devices);
  const recordsOf = new Map<string, DeviceStatus[]>();
  // Newest first in, oldest first out; for equal times the store's insertion order is kept.
  for (let i = input.records.length - 1; i >= 0; i--) {
    const r = input.records[i]!;
    if (!configured.has(r.device)) continue;
    const list = recordsOf.get(r.device);
    if (list) list.push(r);
    else recordsOf.set(r.device, [r]);
  }
  for (const list of recordsOf.values()) list.sort((a, b) => a.since - b.since);

  const timelines = new Map<string, AvailabilityTimeline>();
  for (const id of input.devices) timelines.set(id, new AvailabilityTimeline());

  const live = Math.min(input.observingSince, input.now);
  const past = input.spans.filter((s) => s.from < live).sort((a, b) => a.from - b.from);
  for (let i = 0; i < past.length; i++) {
    const span = past[i]!;
    const next = past[i + 1];
    // Records up to here may stretch the span: not into the next span, this process or the live span.
    const ownProcess = span.from >= input.runStart;
    const stretchLimit = Math.min(next?.from ?? Infinity, live, ownProcess ? span.to : input.runStart);
    let end = Math.min(span.to, live, next?.from ?? Infinity);
    for (const id of Object.keys(span.devices)) {
      for (const r of recordsOf.get(id) ?? []) if (r.since >= span.from && r.since < stretchLimit && r.since > end) end = r.since;
    }
    if (end <= span.from) continue;
    for (const [id, initial] of Object.entries(span.devices)) {
      const tl = timelines.get(id);
      if (!tl) continue;
      tl.observe(span.from, initial);
      for (const r of recordsOf.get(id) ?? []) if (r.since >= span.from && r.since <= end) tl.set(r.availability, r.since);
      tl.stop(end);
    }
  }

  for (const [id, tl] of timelines) {
    tl.observe(live, 'unknown');
    for (const r of recordsOf.get(id) ?? []) if (r.since >= live && r.since <= input.now) tl.set(r.availability, r.since);
  }
  return timelines;
}
