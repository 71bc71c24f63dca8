/**
 * The hot-path line-protocol encoder (sinks/influx/line-protocol.ts, used by InfluxSchema.points)
 * against its reference, @influxdata/influxdb-client's `Point`: the schema's points() must give
 * exactly the lines the Point-based implementation gave (the one it replaced for speed, kept
 * here verbatim as `referencePoints`), character by character, over awkward names and values —
 * escapes in every position, repeated fields, several timestamps in one read, stale points,
 * bitfields, non-finite numbers, a device whose identity changes (series key cache).
 */
import { Point as LinePoint } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import type { Point, PointValue } from '../../gateway/src/core/types.js';
import { escapeMeasurement, escapeTag, LineEncoder, quotedField, seriesKey } from '../../gateway/src/sinks/influx/line-protocol.js';
import { InfluxSchema, measurementForKind, type InfluxDeviceInfo, type InfluxLine } from '../../gateway/src/sinks/influx/schema.js';

// --- the reference: InfluxSchema.points as it was, built with Point ---------------------------

const MS = { convertTime: (t: string | number | Date | undefined) => (typeof t === 'number' ? String(Math.trunc(t)) : undefined) };
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');
function tagValue(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = oneLine(v).replace(/\\+$/, '');
  return t === '' ? undefined : t;
}
function setValueFields(p: LinePoint, name: string, value: PointValue): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object') {
    for (const [flag, on] of Object.entries(value)) p.booleanField(`${name}.${flag}`, on === true);
    return;
  }
  if (typeof value === 'number') {
    if (Number.isFinite(value)) p.floatField(name, value);
  } else if (typeof value === 'boolean') p.booleanField(name, value);
  else p.stringField(name, oneLine(value));
}
function referencePoints(site: string, prefix: string, device: string, points: readonly Point[], info: InfluxDeviceInfo | undefined): InfluxLine[] {
  const measurement = `${prefix}${measurementForKind(info?.kind ?? 'other')}`;
  const tags: Record<string, string | undefined> = { site, building: info?.location?.building, room: info?.location?.room, device, profile: info?.profile };
  const byTs = new Map<number, LinePoint>();
  for (const pt of points) {
    const ts = pt.sourceTs ?? pt.ts;
    let line = byTs.get(ts);
    if (!line) {
      line = new LinePoint(measurement).timestamp(ts);
      for (const [k, v] of Object.entries(tags)) {
        const value = tagValue(v);
        if (value !== undefined && k !== '') line.tag(k, value);
      }
      byTs.set(ts, line);
    }
    if (pt.quality === 'good') setValueFields(line, pt.point, pt.value);
    else line.stringField(`${pt.point}.quality`, pt.quality);
  }
  const out: InfluxLine[] = [];
  for (const line of byTs.values()) {
    const text = Object.keys(line.fields).length > 0 ? line.toLineProtocol(MS) : undefined;
    if (text !== undefined) out.push({ line: text, class: 'telemetry' });
  }
  return out;
}

// --- awkward inputs, from a seeded generator (the same cases every run) -----------------------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['door', 'bolt', 'battery', 'a b', 'a,b', 'a=b', 'tab\there', 'new\nline', 'cr\rhere', 'quote"d', 'back\\slash', '中文', 'é', 'Z', '_', '10', '2', 'door.quality', ''];
const TAG_VALUES = [undefined, '', 'B3', 'lane', 'a b', 'x,y', 'k=v', 'trail\\', 'trail\\\\', 'new\nline', 'tab\t', '中文 楼', '"q"', '\\'];
const KINDS = ['door-lock', 'alarm-pole', 'Weird Kind!', '', '--', 'smoke_detector', 'ÄÖ'];
const STRINGS = ['open', 'closed', '', 'say "hi"', 'C:\\path\\', 'line1\nline2\r\nline3', 'tab\tsep', ' lead and trail ', '中文标签', 'x'.repeat(70), 'a,b=c d'];
const NUMBERS = [0, -0, 1, -1, 3.61, 0.1 + 0.2, 1e21, 1e-7, -123456.789, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 42];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function value(r: () => number): PointValue {
  const k = r();
  if (k < 0.3) return pick(r, NUMBERS);
  if (k < 0.5) return pick(r, STRINGS);
  if (k < 0.65) return r() < 0.5;
  if (k < 0.75) return null;
  const flags: Record<string, boolean> = {};
  for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) flags[pick(r, ['speaker', 'power', 'a b', 'x=y', 'camera'])] = r() < 0.5;
  return flags;
}

function info(r: () => number): InfluxDeviceInfo | undefined {
  if (r() < 0.15) return undefined;
  const location: Record<string, string> = {};
  const building = pick(r, TAG_VALUES);
  const room = pick(r, TAG_VALUES);
  if (building !== undefined) location.building = building;
  if (room !== undefined) location.room = room;
  return { profile: pick(r, ['generic-rs485-fingerprint-lock', 'p q', 'p,q', 'p=q', 'trail\\', '']), kind: pick(r, KINDS), ...(r() < 0.8 ? { location } : {}) };
}

function read(r: () => number, device: string): Point[] {
  const base = 1_700_000_000_000 + Math.floor(r() * 1e6);
  const times = r() < 0.7 ? [base] : [base, base + 1, base + 0.6, base - 2000];
  const points: Point[] = [];
  for (let i = 0, n = Math.floor(r() * 7); i < n; i++) {
    const ts = pick(r, times);
    const quality = r() < 0.8 ? 'good' : pick(r, ['stale', 'bad'] as const);
    const p: Point = { device, point: pick(r, NAMES), value: value(r), quality, ts };
    if (r() < 0.2) p.sourceTs = pick(r, times) - 500;
    points.push(p);
  }
  return points;
}

describe('influx line protocol: the hot-path encoder against Point', () => {
  it('points() gives exactly the lines the Point-based schema gave, over 5,000 awkward reads', () => {
    for (const [site, prefix] of [['v1', ''], ['村 1,a=b', 'sw_'], ['s', 'x y']] as const) {
      const schema = new InfluxSchema({ site, ...(prefix ? { measurementPrefix: prefix } : {}) });
      const r = rng(site.length * 7919 + prefix.length);
      let lines = 0;
      for (let i = 0; i < 5000; i++) {
        // Few devices, identities that change now and then: the series key cache must follow.
        const device = pick(r, ['lock-1', 'lock 2', 'pole,3', 'x=4', 'trail\\', '中文-5', '']);
        const who = info(r);
        const points = read(r, device);
        const expected = referencePoints(site, prefix, device, points, who);
        expect(schema.points(device, points, who), `read ${i} of ${device}: ${JSON.stringify(points)}`).toEqual(expected);
        lines += expected.length;
      }
      // The generator must actually exercise the encoder, not only produce empty reads.
      expect(lines).toBeGreaterThan(3000);
    }
  });

  it('a point set twice in one read keeps its last value, as Point does', () => {
    const schema = new InfluxSchema({ site: 'v1' });
    const who: InfluxDeviceInfo = { profile: 'p', kind: 'door-lock' };
    const pts: Point[] = [
      { device: 'd', point: 'door', value: 'open', quality: 'good', ts: 5 },
      { device: 'd', point: 'battery', value: 3.1, quality: 'good', ts: 5 },
      { device: 'd', point: 'door', value: 'closed', quality: 'good', ts: 5 },
    ];
    expect(schema.points('d', pts, who)).toEqual([{ line: 'door_lock,device=d,profile=p,site=v1 battery=3.1,door="closed" 5', class: 'telemetry' }]);
    expect(schema.points('d', pts, who)).toEqual(referencePoints('v1', '', 'd', pts, who));
  });

  it('the series key follows a device whose configured location changes', () => {
    const schema = new InfluxSchema({ site: 'v1' });
    const pt: Point[] = [{ device: 'd', point: 'v', value: 1, quality: 'good', ts: 1 }];
    expect(schema.points('d', pt, { profile: 'p', kind: 'pir', location: { building: 'A' } })[0]!.line).toBe('pir,building=A,device=d,profile=p,site=v1 v=1 1');
    expect(schema.points('d', pt, { profile: 'p', kind: 'pir', location: { building: 'B' } })[0]!.line).toBe('pir,building=B,device=d,profile=p,site=v1 v=1 1');
    expect(schema.points('d', pt, undefined)[0]!.line).toBe('other,device=d,site=v1 v=1 1');
  });

  it('the escaping helpers match Point on every special character', () => {
    for (const s of ['plain', 'a b', 'a,b', 'a=b', 'a\nb', 'a\rb', 'a\tb', 'a"b', 'a\\b', ',= \n\r\t"\\', '']) {
      const p = new LinePoint(s === '' ? 'm' : s).tag('k', s === '' ? 'v' : s).stringField(s === '' ? 'f' : s, s).timestamp(1);
      const line = p.toLineProtocol(MS)!;
      const expected = `${escapeMeasurement(s === '' ? 'm' : s)},k=${escapeTag(s === '' ? 'v' : s)} ${escapeTag(s === '' ? 'f' : s)}=${quotedField(s)} 1`;
      expect(expected).toBe(line);
    }
    expect(seriesKey('m', { b: 'x y', a: 'z', c: '', d: undefined })).toBe('m,a=z,b=x\\ y');
    const enc = new LineEncoder();
    for (const [k, v] of [['b', '1'], ['a', 'T'], ['b', '2'], ['', '3']] as const) enc.add(k, v);
    expect(enc.line('m', '1')).toBe('m a=T,b=2 1');
    enc.add('z', '1');
    enc.addString('a b', 'say "hi"');
    enc.add('z', '2');
    expect(enc.line('m,t=1', '9')).toBe('m,t=1 a\\ b="say \\"hi\\"",z=2 9');
    expect(enc.line('m', '9')).toBeUndefined();
  });
});
