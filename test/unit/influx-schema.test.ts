/**
 * The InfluxDB schema (sinks/influx/schema.ts, docs/influx.md): domain objects -> line protocol,
 * millisecond source timestamps, tags site/building/room/device/profile, and the property that
 * makes replays safe: the same object always gives the same line.
 */
import { describe, expect, it } from 'vitest';
import type { Alarm, DeviceEvent, DeviceStatus, Point } from '../../gateway/src/core/types.js';
import { InfluxSchema, measurementForKind, type InfluxDeviceInfo } from '../../gateway/src/sinks/influx/schema.js';
import { alarmFixture } from '../helpers/alarm-fixture.js';

const schema = new InfluxSchema({ site: 'v1' });
const lock: InfluxDeviceInfo = { profile: 'generic-rs485-fingerprint-lock', kind: 'door-lock', location: { building: 'B3', room: '201' } };
const pole: InfluxDeviceInfo = { profile: 'generic-alarm-pole', kind: 'alarm-pole', location: { building: 'B1' } };
const T = 1_700_000_000_000;

function pt(point: string, value: Point['value'], over: Partial<Point> = {}): Point {
  return { device: 'lock-1', point, value, quality: 'good', ts: T, ...over };
}

const pass: DeviceEvent = {
  id: '01J0000000000000000000PASS',
  site: 'v1',
  device: 'lock-1',
  profile: 'generic-rs485-fingerprint-lock',
  event: 'pass',
  kind: 'access',
  ts: T + 5,
  fields: { last_user: 7, last_method: 'fingerprint', last_result: 'granted' },
};

const panic: Alarm = alarmFixture({
  id: '01J00000000000000000PANIC1',
  device: 'pole-1',
  state: 'raised',
  raisedAt: T + 10,
  updatedAt: T + 10,
  fields: { button: 'pressed', tamper: 'normal' },
});

describe('influx schema: device points', () => {
  it('writes one line per device and timestamp, in the measurement of the device kind, with the five tags', () => {
    const lines = schema.points('lock-1', [pt('door', 'open'), pt('bolt', 'locked'), pt('battery', 3.61), pt('battery_low', false)], lock);
    expect(lines).toEqual([
      {
        line: 'door_lock,building=B3,device=lock-1,profile=generic-rs485-fingerprint-lock,room=201,site=v1 battery=3.61,battery_low=F,bolt="locked",door="open" 1700000000000',
        class: 'telemetry',
      },
    ]);
  });

  it('uses the source timestamp when the device gave one, and splits points of different times', () => {
    const lines = schema.points('lock-1', [pt('door', 'open', { sourceTs: T - 2000 }), pt('bolt', 'locked', { ts: T + 1 })], lock).map((l) => l.line);
    expect(lines).toEqual([
      'door_lock,building=B3,device=lock-1,profile=generic-rs485-fingerprint-lock,room=201,site=v1 door="open" 1699999998000',
      'door_lock,building=B3,device=lock-1,profile=generic-rs485-fingerprint-lock,room=201,site=v1 bolt="locked" 1700000000001',
    ]);
  });

  it('writes numbers as floats (whole numbers too), so a field never changes type', () => {
    const [l] = schema.points('lock-1', [pt('event_seq', 42), pt('battery', 3)], lock);
    expect(l!.line).toContain(' battery=3,event_seq=42 ');
    expect(l!.line).not.toMatch(/=\d+i/);
  });

  it('writes bitfield flags as separate boolean fields <point>.<flag>', () => {
    const [l] = schema.points('pole-1', [{ device: 'pole-1', point: 'self_test_fault', value: { speaker: true, camera: false }, quality: 'good', ts: T }], pole);
    expect(l!.line).toBe('alarm_pole,building=B1,device=pole-1,profile=generic-alarm-pole,site=v1 self_test_fault.camera=F,self_test_fault.speaker=T 1700000000000');
  });

  it('records a stale or bad point as <point>.quality only, never its old value as a fresh sample', () => {
    const [l] = schema.points('lock-1', [pt('door', 'open', { quality: 'stale' }), pt('battery', 3.5, { quality: 'bad' })], lock);
    expect(l!.line).toContain(' battery.quality="bad",door.quality="stale" ');
    expect(l!.line).not.toContain('door="open"');
  });

  it('leaves out null and non-finite values, and writes no line without fields', () => {
    expect(schema.points('lock-1', [pt('door', null), pt('battery', Number.NaN), pt('x', Number.POSITIVE_INFINITY)], lock)).toEqual([]);
    const [l] = schema.points('lock-1', [pt('door', null), pt('battery', 3.3)], lock);
    expect(l!.line).toContain(' battery=3.3 ');
  });

  it('gives the identical line for a replay of the same object (whatever the key order)', () => {
    const a = schema.points('lock-1', [pt('door', 'open'), pt('bolt', 'locked')], lock);
    const b = schema.points('lock-1', [pt('bolt', 'locked'), pt('door', 'open')], { location: { room: '201', building: 'B3' }, kind: 'door-lock', profile: lock.profile });
    expect(b).toEqual(a);
    expect(schema.alarm({ ...panic }, pole)).toEqual(schema.alarm({ ...panic, fields: { tamper: 'normal', button: 'pressed' } }, pole));
  });

  it('escapes tag values and keeps every line on one line', () => {
    const info: InfluxDeviceInfo = { profile: 'p', kind: 'door-lock', location: { building: 'Block A, east', room: 'r=1\\' } };
    const [l] = schema.points('lock 9', [pt('label', 'say "hi"\nbye')], info);
    expect(l!.line).toBe('door_lock,building=Block\\ A\\,\\ east,device=lock\\ 9,profile=p,room=r\\=1,site=v1 label="say \\"hi\\" bye" 1700000000000');
    expect(l!.line).not.toContain('\n');
  });

  it('falls back to the measurement `other` and no profile tag for an unknown device', () => {
    const [l] = schema.points('ghost', [pt('v', 1, { device: 'ghost' })], undefined);
    expect(l!.line).toBe('other,device=ghost,site=v1 v=1 1700000000000');
  });

  it('maps profile kinds to snake_case measurements and applies the prefix', () => {
    expect(measurementForKind('door-lock')).toBe('door_lock');
    expect(measurementForKind('smoke-detector')).toBe('smoke_detector');
    expect(measurementForKind('alarm-pole')).toBe('alarm_pole');
    const prefixed = new InfluxSchema({ site: 'v1', measurementPrefix: 'sw_' });
    expect(prefixed.points('lock-1', [pt('door', 'open')], lock)[0]!.line.startsWith('sw_door_lock,')).toBe(true);
    expect(prefixed.alarm(panic, pole)!.line.startsWith('sw_alarm,')).toBe(true);
  });
});

describe('influx schema: events, alarms, status, custom points', () => {
  it('writes an access pass to access_event (class access, never dropped) with its fields and id', () => {
    expect(schema.event(pass, lock)).toEqual({
      line: 'access_event,building=B3,device=lock-1,event=pass,profile=generic-rs485-fingerprint-lock,room=201,site=v1 id="01J0000000000000000000PASS",last_method="fingerprint",last_result="granted",last_user=7 1700000000005',
      class: 'access',
    });
  });

  it('writes other device events to device_event as droppable telemetry', () => {
    const e = schema.event({ ...pass, kind: 'device', event: 'door_held_open', fields: { door: 'open' } }, lock)!;
    expect(e.class).toBe('telemetry');
    expect(e.line.startsWith('device_event,building=B3,device=lock-1,event=door_held_open,')).toBe(true);
  });

  it('writes each alarm transition at its time with state as a tag, so the lifecycle is kept', () => {
    const raised = schema.alarm(panic, pole)!;
    expect(raised).toEqual({
      line:
        'alarm,building=B1,device=pole-1,kind=alarm,profile=generic-alarm-pole,rule=panic,severity=emergency,site=v1,state=raised ' +
        'cid=120i,fields="{\\"button\\":\\"pressed\\",\\"tamper\\":\\"normal\\"}",id="01J00000000000000000PANIC1",latch=T,name="Panic",name_zh="紧急求助",raised_at=1700000000010i,sia="PA",silent=F 1700000000010',
      class: 'alarm',
    });
    const delivered = schema.alarm({ ...panic, state: 'delivered', updatedAt: T + 10 }, pole)!;
    // Same millisecond, different state: a different series, nothing overwritten.
    expect(delivered.line).toContain(',state=delivered ');
    expect(delivered.line).not.toBe(raised.line);
  });

  it('writes device status as online 1/0 at `since`, with the reason', () => {
    const off: DeviceStatus = { device: 'lock-1', availability: 'offline', since: T + 20, reason: 'timeout', consecutiveFailures: 3 };
    expect(schema.status(off, lock)!.line).toBe(
      'device_status,building=B3,device=lock-1,profile=generic-rs485-fingerprint-lock,room=201,site=v1 consecutive_failures=3,online=0,reason="timeout" 1700000000020',
    );
    expect(schema.status({ ...off, availability: 'online', reason: undefined, consecutiveFailures: 0 }, lock)!.line).toContain(' consecutive_failures=0,online=1 ');
  });

  it('writes custom points with the prefix, a site tag and the class given', () => {
    const s = new InfluxSchema({ site: 'v1', measurementPrefix: 'sw_' });
    expect(s.custom({ measurement: 'health', tags: { bus: 'rs485-1', empty: '' }, fields: { utilisation: 0.25, ok: true, state: 'up' }, ts: T })).toEqual({
      line: 'sw_health,bus=rs485-1,site=v1 ok=T,state="up",utilisation=0.25 1700000000000',
      class: 'telemetry',
    });
    expect(s.custom({ measurement: 'health', fields: { x: 1 }, ts: T, class: 'alarm' })!.class).toBe('alarm');
    expect(s.custom({ measurement: 'health', fields: { x: Number.NaN }, ts: T })).toBeUndefined();
  });
});
