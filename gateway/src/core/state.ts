/**
 * Last-value state of every device point, with report by exception. PURE: no I/O, no timers;
 * the caller passes the time in. `apply` answers the question "which points must be published
 * now?": a value that did not change, or moved less than its deadband, is not published; a
 * quality change always is. Deadbands compare with the last *published* value so slow drift is
 * reported once it adds up to the deadband (comparing with the last read would hide it forever).
 */
import { samePointValue } from './point-value.js';
import type { Point, PointValue, Quality } from './types.js';

/** What the state needs to know about a point (from the profile + the poll plan). */
export interface StatePointSpec {
  id: string;
  unit?: string;
  /** Numeric changes smaller than this are not published. */
  deadband?: number;
  /** Poll interval, ms. Undefined for points nobody polls (pushes, MQTT): they never go stale by age. */
  intervalMs?: number;
}

export interface LastValueStateOptions {
  /** A point not refreshed within this many of its intervals is stale. */
  staleAfterIntervals: number;
  /**
   * Floor for the interval used in stale checks. Alarm points are polled "back to back"
   * (interval 0), so their real refresh period is one sweep; without a floor they would go
   * stale between two reads. Default 1000 ms.
   */
  minIntervalMs?: number;
}

export interface ApplyOptions {
  /** Points that were read but could not be decoded: published with quality `bad` (and the reason is the caller's to log). */
  bad?: Readonly<Record<string, string>> | readonly string[];
  /** Device-supplied time of the values. */
  sourceTs?: number;
}

interface PointEntry {
  /** The point id (so that walking every point needs no [key, value] pairs). */
  id: string;
  spec: StatePointSpec;
  /** What the world was last told. */
  published?: Point;
  /** Last read or quality change (good or bad) — what staleness is measured from. */
  refreshedAt: number;
}

interface DeviceEntry {
  device: string;
  points: Map<string, PointEntry>;
  /** The same points as a list, for the stale sweep (an array walk allocates nothing, a Map iterator does). */
  list: PointEntry[];
}

/** What apply/sweepStale return when nothing is to be published (the usual case): one shared, frozen list. */
const NOTHING: Point[] = Object.freeze([]) as unknown as Point[];

export class LastValueState {
  private readonly devicesById = new Map<string, DeviceEntry>();
  private deviceList: DeviceEntry[] = [];
  private readonly staleAfterIntervals: number;
  private readonly minIntervalMs: number;

  constructor(options: LastValueStateOptions) {
    this.staleAfterIntervals = options.staleAfterIntervals;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
  }

  /**
   * Declare a device's points (unit, deadband, interval). Re-defining keeps published values of
   * points that remain. The specs are kept as given, not copied (devices of one profile share
   * them): do not modify them afterwards.
   */
  defineDevice(device: string, points: readonly StatePointSpec[]): void {
    const entry = this.deviceEntry(device);
    for (const spec of points) {
      const existing = entry.points.get(spec.id);
      if (existing) existing.spec = spec;
      else this.addPoint(entry, { id: spec.id, spec, refreshedAt: Number.NEGATIVE_INFINITY });
    }
  }

  removeDevice(device: string): void {
    const entry = this.devicesById.get(device);
    if (!entry) return;
    this.devicesById.delete(device);
    this.deviceList = this.deviceList.filter((e) => e !== entry);
  }

  devices(): string[] {
    return [...this.devicesById.keys()];
  }

  /**
   * Take a read's values (and points that failed to decode) and return the points that must be
   * published. Points not declared with defineDevice are accepted with no deadband and no interval.
   * The returned list is shared and frozen when empty: do not modify it.
   */
  apply(device: string, values: Readonly<Record<string, PointValue>>, ts: number, options: ApplyOptions = {}): Point[] {
    const entry = this.deviceEntry(device);
    const bad = badSet(options.bad);
    let out: Point[] | undefined;
    // Values first, then bad points that carried no value (the order points are published in).
    for (const id in values) out = this.applyOne(entry, device, id, values, bad, ts, options.sourceTs, out);
    if (bad) for (const id of bad) if (!(id in values)) out = this.applyOne(entry, device, id, values, bad, ts, options.sourceTs, out);
    return out ?? NOTHING;
  }

  private applyOne(
    entry: DeviceEntry,
    device: string,
    id: string,
    values: Readonly<Record<string, PointValue>>,
    bad: ReadonlySet<string> | undefined,
    ts: number,
    sourceTs: number | undefined,
    out: Point[] | undefined,
  ): Point[] | undefined {
    const point = this.pointEntry(entry, id);
    point.refreshedAt = ts;
    const quality: Quality = bad?.has(id) ? 'bad' : 'good';
    // A bad read keeps the last known value (flagged bad) unless the caller supplied one.
    const value = id in values ? (values[id] as PointValue) : (point.published?.value ?? null);
    if (!mustPublish(point, value, quality)) return out;
    const published = makePoint(device, id, value, quality, ts, point.spec.unit, sourceTs);
    point.published = published;
    (out ??= []).push(published);
    return out;
  }

  /**
   * Report by exception for a read whose registers did not change: if every one of these points
   * has a published value of good quality, only note that they are fresh (nothing to publish)
   * and return true. False, with nothing changed that matters, when a point is unknown or not
   * good (its quality must change): then apply() the read.
   */
  refresh(device: string, values: Readonly<Record<string, PointValue>>, ts: number): boolean {
    const entry = this.devicesById.get(device);
    if (!entry) return false;
    for (const id in values) {
      const point = entry.points.get(id);
      if (point?.published?.quality !== 'good') return false;
      point.refreshedAt = ts;
    }
    return true;
  }

  /** The device went offline: every point with a value turns stale. Returns the points whose quality changed. */
  markDeviceOffline(device: string, ts: number): Point[] {
    const entry = this.devicesById.get(device);
    if (!entry) return [];
    const out: Point[] = [];
    for (const [id, point] of entry.points) {
      const p = point.published;
      if (!p || p.quality === 'stale') continue;
      point.published = makePoint(device, id, p.value, 'stale', ts, point.spec.unit, p.sourceTs);
      out.push(point.published);
    }
    return out;
  }

  /** Mark points not refreshed within staleAfterIntervals × their interval as stale; returns them (shared and frozen when none). */
  sweepStale(now: number): Point[] {
    let out: Point[] | undefined;
    // Runs every second over every point of every device: array walks, which allocate nothing.
    for (let d = 0; d < this.deviceList.length; d++) {
      const entry = this.deviceList[d]!;
      for (let i = 0; i < entry.list.length; i++) {
        const point = entry.list[i]!;
        const p = point.published;
        const interval = point.spec.intervalMs;
        if (!p || p.quality === 'stale' || interval === undefined) continue;
        const maxAge = this.staleAfterIntervals * Math.max(interval, this.minIntervalMs);
        if (now - point.refreshedAt <= maxAge) continue;
        point.published = makePoint(entry.device, point.id, p.value, 'stale', now, point.spec.unit, p.sourceTs);
        (out ??= []).push(point.published);
      }
    }
    return out ?? NOTHING;
  }

  /** Current published points of a device, for the retained state message (profile order of definition). */
  snapshot(device: string): Point[] {
    const entry = this.devicesById.get(device);
    if (!entry) return [];
    const out: Point[] = [];
    for (const point of entry.points.values()) if (point.published) out.push(point.published);
    return out;
  }

  get(device: string, point: string): Point | undefined {
    return this.devicesById.get(device)?.points.get(point)?.published;
  }

  private addPoint(entry: DeviceEntry, point: PointEntry): void {
    entry.points.set(point.id, point);
    entry.list.push(point);
  }

  private deviceEntry(device: string): DeviceEntry {
    let entry = this.devicesById.get(device);
    if (!entry) {
      entry = { device, points: new Map(), list: [] };
      this.devicesById.set(device, entry);
      this.deviceList.push(entry);
    }
    return entry;
  }

  private pointEntry(entry: DeviceEntry, id: string): PointEntry {
    let point = entry.points.get(id);
    if (!point) {
      point = { id, spec: { id }, refreshedAt: Number.NEGATIVE_INFINITY };
      this.addPoint(entry, point);
    }
    return point;
  }
}

/** Undefined when nothing is bad (the usual read): no Set per read. */
function badSet(bad: ApplyOptions['bad']): Set<string> | undefined {
  if (!bad) return undefined;
  const ids = Array.isArray(bad) ? bad : Object.keys(bad);
  return ids.length === 0 ? undefined : new Set(ids);
}

function mustPublish(point: PointEntry, value: PointValue, quality: Quality): boolean {
  const last = point.published;
  if (!last) return true;
  if (last.quality !== quality) return true;
  if (samePointValue(last.value, value)) return false;
  const deadband = point.spec.deadband;
  if (deadband !== undefined && deadband > 0 && typeof value === 'number' && typeof last.value === 'number') {
    return Math.abs(value - last.value) >= deadband;
  }
  return true;
}

function makePoint(
  device: string,
  point: string,
  value: PointValue,
  quality: Quality,
  ts: number,
  unit: string | undefined,
  sourceTs: number | undefined,
): Point {
  const p: Point = { device, point, value, quality, ts };
  if (unit !== undefined) p.unit = unit;
  if (sourceTs !== undefined) p.sourceTs = sourceTs;
  return p;
}
