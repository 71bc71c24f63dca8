/**
 * The InfluxDB schema (docs/influx.md): pure functions from domain objects to line-protocol
 * lines, built with @influxdata/influxdb-client's `Point` (it sorts tags and fields and escapes
 * names and values), in millisecond precision.
 *
 * The rule that makes outages safe: a line depends only on the domain object and the device's
 * configured identity, never on the time it is written. The timestamp is the SOURCE time
 * (point.sourceTs ?? point.ts, event.ts, alarm.updatedAt, status.since), so a replay of the same
 * object produces the identical line, and InfluxDB overwrites a point that has the same
 * measurement, tag set and timestamp: replays and overlapping retries make no duplicates.
 *
 * Every line carries a spool class: what the overflow policy may drop (`telemetry`) and what it
 * must keep (`alarm`, `access`).
 */
import { Point as LinePoint } from '@influxdata/influxdb-client';
import type { Alarm, DeviceEvent, DeviceLocation, DeviceStatus, Point, PointValue } from '../../core/types.js';
import type { SpoolClass } from '../../store/spool.js';
import { booleanField, floatField, LineEncoder, msTimestamp, seriesKey } from './line-protocol.js';

/** What the sink knows about a device from the config and its profile. */
export interface InfluxDeviceInfo {
  profile: string;
  /** Profile kind, e.g. `door-lock`; becomes the measurement `door_lock`. */
  kind: string;
  location?: DeviceLocation;
}

export interface SchemaOptions {
  site: string;
  /** Prepended to every measurement name. */
  measurementPrefix?: string;
}

export type InfluxFieldValue = number | boolean | string;

/** An arbitrary point (health metrics and other writers that are not domain objects). */
export interface InfluxPointInput {
  /** Measurement name without the configured prefix (the sink adds it). */
  measurement: string;
  /** `site` is added when missing. Empty values are left out (InfluxDB has no empty tags). */
  tags?: Readonly<Record<string, string>>;
  /** Numbers are written as floats; non-finite numbers are left out. */
  fields: Readonly<Record<string, InfluxFieldValue>>;
  /** ms since epoch. */
  ts: number;
  /** Default `telemetry` (may be dropped when the spool overflows). */
  class?: SpoolClass;
}

/** One line of line protocol with its spool class. */
export interface InfluxLine {
  line: string;
  class: SpoolClass;
}

/** Measurements that are not per device kind. */
export const MEASUREMENTS = {
  accessEvent: 'access_event',
  deviceEvent: 'device_event',
  alarm: 'alarm',
  deviceStatus: 'device_status',
} as const;

/** Profile kinds are kebab-case (`door-lock`); measurements use snake_case (`door_lock`). */
export function measurementForKind(kind: string): string {
  const m = kind.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  return m === '' ? 'other' : m;
}

/** ms timestamps as the integer line protocol wants (precision=ms on the request). */
const MS: { convertTime: (t: string | number | Date | undefined) => string | undefined } = {
  convertTime: (t) => (typeof t === 'number' ? String(Math.trunc(t)) : undefined),
};

/**
 * Line protocol has no newline escape inside string fields, and every line must stay one line
 * (batches are joined and split on `\n`): newlines become spaces.
 */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** A tag value may not be empty or end in a backslash (it would escape the separator). */
function tagValue(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = oneLine(v).replace(/\\+$/, '');
  return t === '' ? undefined : t;
}

function setTags(p: LinePoint, tags: Readonly<Record<string, string | undefined>>): void {
  for (const [k, v] of Object.entries(tags)) {
    const value = tagValue(v);
    if (value !== undefined && k !== '') p.tag(k, value);
  }
}

/** Numbers as floats (one field, one type, whatever the register type), booleans, strings. */
function setField(p: LinePoint, name: string, value: InfluxFieldValue): void {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) p.floatField(name, value);
  } else if (typeof value === 'boolean') {
    p.booleanField(name, value);
  } else {
    p.stringField(name, oneLine(value));
  }
}

/** A point value as fields: scalars under `name`, a bitfield's flags as `name.flag` booleans; null as nothing. */
function setValueFields(p: LinePoint, name: string, value: PointValue): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object') {
    for (const [flag, on] of Object.entries(value)) p.booleanField(`${name}.${flag}`, on === true);
    return;
  }
  setField(p, name, value);
}

function hasFields(p: LinePoint): boolean {
  return Object.keys(p.fields).length > 0;
}

function toLine(p: LinePoint): string | undefined {
  return hasFields(p) ? p.toLineProtocol(MS) : undefined;
}

/** Series keys cached per device (bounded: device ids come from config, but MQTT may bring unknown ones). */
const SERIES_CACHE_MAX = 10_000;

interface CachedSeries {
  kind: string | undefined;
  profile: string | undefined;
  building: string | undefined;
  room: string | undefined;
  key: string;
}

/** A point value as fields (the encoder's twin of setValueFields): scalars under `name`, bitfield flags as `name.flag`, null as nothing. */
function encodeValue(enc: LineEncoder, name: string, value: PointValue): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object') {
    for (const [flag, on] of Object.entries(value)) enc.add(`${name}.${flag}`, booleanField(on === true));
  } else if (typeof value === 'number') {
    if (Number.isFinite(value)) enc.add(name, floatField(value));
  } else if (typeof value === 'boolean') {
    enc.add(name, booleanField(value));
  } else {
    enc.addString(name, oneLine(value));
  }
}

/** Timestamps group as Map keys do (SameValueZero). */
function sameTs(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

export class InfluxSchema {
  private readonly prefix: string;
  private readonly series = new Map<string, CachedSeries>();
  private readonly encoder = new LineEncoder();

  constructor(private readonly options: SchemaOptions) {
    this.prefix = options.measurementPrefix ?? '';
  }

  measurement(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** The tags every device line carries: site, building, room, device, profile. */
  private deviceTags(device: string, info: InfluxDeviceInfo | undefined, fallback?: DeviceLocation): Record<string, string | undefined> {
    // The configured location wins over the one copied into the object, so that every
    // measurement of a device has the same tags (and a replay the same series).
    const location = info?.location ?? fallback;
    return {
      site: this.options.site,
      building: location?.building,
      room: location?.room,
      device,
      profile: info?.profile,
    };
  }

  /**
   * A device's changed points: one line per (device, timestamp) in the measurement of its
   * kind. Good values become fields; a stale or bad point writes only `<point>.quality`, so that
   * an old value is never recorded as a fresh sample.
   */
  points(device: string, points: readonly Point[], info: InfluxDeviceInfo | undefined): InfluxLine[] {
    // The volume path: encoded by line-protocol.ts (the same bytes as Point, checked by a unit
    // test), with the measurement and tags of the device encoded once and reused.
    const key = this.deviceSeriesKey(device, info);
    if (points.length === 0) return [];
    const ts0 = points[0]!.sourceTs ?? points[0]!.ts;
    if (points.every((pt) => sameTs(pt.sourceTs ?? pt.ts, ts0))) {
      // One read, one timestamp: nearly always.
      const line = this.encodeRead(key, ts0, points);
      return line ? [line] : [];
    }
    // Points of more than one timestamp: one line per timestamp, first seen first.
    const byTs = new Map<number, Point[]>();
    for (const pt of points) {
      const ts = pt.sourceTs ?? pt.ts;
      let group = byTs.get(ts);
      if (!group) byTs.set(ts, (group = []));
      group.push(pt);
    }
    const out: InfluxLine[] = [];
    for (const [ts, group] of byTs) {
      const line = this.encodeRead(key, ts, group);
      if (line) out.push(line);
    }
    return out;
  }

  /** One line: the device's series key, the fields of `points`, the timestamp. Undefined when no field is left. */
  private encodeRead(key: string, ts: number, points: readonly Point[]): InfluxLine | undefined {
    const enc = this.encoder;
    enc.reset();
    for (const pt of points) {
      if (pt.quality === 'good') encodeValue(enc, pt.point, pt.value);
      else enc.addString(`${pt.point}.quality`, pt.quality);
    }
    const line = enc.line(key, msTimestamp(ts));
    return line === undefined ? undefined : { line, class: 'telemetry' };
  }

  /** `measurement,building=…,device=…,profile=…,room=…,site=…` of a device, cached while its identity is unchanged. */
  private deviceSeriesKey(device: string, info: InfluxDeviceInfo | undefined): string {
    const kind = info?.kind;
    const profile = info?.profile;
    const building = info?.location?.building;
    const room = info?.location?.room;
    const hit = this.series.get(device);
    if (hit && hit.kind === kind && hit.profile === profile && hit.building === building && hit.room === room) return hit.key;
    const tags: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(this.deviceTags(device, info))) tags[k] = tagValue(v);
    const key = seriesKey(this.measurement(measurementForKind(kind ?? 'other')), tags);
    if (this.series.size >= SERIES_CACHE_MAX) this.series.clear();
    this.series.set(device, { kind, profile, building, room, key });
    return key;
  }

  /** Access passes (`access_event`, never dropped) and other device events (`device_event`). */
  event(e: DeviceEvent, info: InfluxDeviceInfo | undefined): InfluxLine | undefined {
    const access = e.kind === 'access';
    const p = new LinePoint(this.measurement(access ? MEASUREMENTS.accessEvent : MEASUREMENTS.deviceEvent)).timestamp(e.ts);
    setTags(p, { ...this.deviceTags(e.device, info ?? { profile: e.profile, kind: 'other' }, e.location), site: e.site, event: e.event });
    for (const [name, value] of Object.entries(e.fields)) {
      if (name !== 'id') setValueFields(p, name, value);
    }
    p.stringField('id', e.id);
    const line = toLine(p);
    return line === undefined ? undefined : { line, class: access ? 'access' : 'telemetry' };
  }

  /**
   * One line per alarm transition at its time (`updatedAt`), `state` as a tag so that every
   * step of the lifecycle is kept (raised, queued, sent... two steps in the same millisecond do
   * not overwrite each other). The point snapshot goes in as one JSON string field: profiles
   * disagree on point types, and a type conflict in this measurement would reject an alarm line.
   */
  alarm(a: Alarm, info: InfluxDeviceInfo | undefined): InfluxLine | undefined {
    const p = new LinePoint(this.measurement(MEASUREMENTS.alarm)).timestamp(a.updatedAt);
    setTags(p, {
      ...this.deviceTags(a.device, info ?? { profile: a.profile, kind: 'other' }, a.location),
      site: a.site,
      rule: a.rule,
      severity: a.severity,
      kind: a.kind,
      state: a.state,
    });
    p.stringField('id', a.id);
    p.stringField('name', oneLine(a.name.en));
    p.stringField('name_zh', oneLine(a.name.zh));
    if (a.code.cid !== undefined) p.intField('cid', a.code.cid);
    if (a.code.sia !== undefined) p.stringField('sia', a.code.sia);
    p.booleanField('latch', a.latch);
    p.booleanField('silent', a.silent);
    p.intField('raised_at', a.raisedAt);
    if (a.restores !== undefined) p.stringField('restores', a.restores);
    const keys = Object.keys(a.fields).sort();
    if (keys.length > 0) p.stringField('fields', JSON.stringify(Object.fromEntries(keys.map((k) => [k, a.fields[k]]))));
    const line = toLine(p);
    return line === undefined ? undefined : { line, class: 'alarm' };
  }

  /** Online/offline changes: `online` 1/0 at `since`, with the reason for going offline. */
  status(s: DeviceStatus, info: InfluxDeviceInfo | undefined): InfluxLine | undefined {
    const p = new LinePoint(this.measurement(MEASUREMENTS.deviceStatus)).timestamp(s.since);
    setTags(p, this.deviceTags(s.device, info));
    p.floatField('online', s.availability === 'online' ? 1 : 0);
    p.floatField('consecutive_failures', s.consecutiveFailures);
    if (s.reason !== undefined) p.stringField('reason', oneLine(s.reason));
    const line = toLine(p);
    return line === undefined ? undefined : { line, class: 'telemetry' };
  }

  /** Any other point (health metrics): measurement gets the prefix, tags get `site` if missing. */
  custom(input: InfluxPointInput): InfluxLine | undefined {
    if (!Number.isFinite(input.ts)) return undefined;
    const p = new LinePoint(this.measurement(input.measurement)).timestamp(input.ts);
    setTags(p, { site: this.options.site, ...input.tags });
    for (const [name, value] of Object.entries(input.fields)) setField(p, name, value);
    const line = toLine(p);
    return line === undefined ? undefined : { line, class: input.class ?? 'telemetry' };
  }
}
