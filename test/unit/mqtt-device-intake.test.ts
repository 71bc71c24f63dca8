import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import type { JsonPointDef, PointDef } from '../../gateway/src/profiles/schema.js';
import { DeviceIntake, type DeviceValues } from '../../gateway/src/sinks/mqtt/device-intake.js';
import { decodeJsonPoint, parseJsonPath, valueAtPath } from '../../gateway/src/sinks/mqtt/json-points.js';

const jp = (over: Partial<JsonPointDef> & Pick<JsonPointDef, 'id' | 'type' | 'json'>): JsonPointDef => ({ ...over }) as JsonPointDef;

const door = jp({ id: 'door', type: 'bool', json: 'status.door', map: { '0': 'closed', '1': 'open' } });
const battery = jp({ id: 'battery', type: 'u16', json: 'battery', scale: 0.01, unit: 'V' });
const temp = jp({ id: 'temp', type: 'f32', json: 'sensors[0].t', unit: '°C' });
const mode = jp({ id: 'mode', type: 'enum', json: 'mode', map: { '0': 'idle', '1': 'armed' } });
const flags = jp({ id: 'faults', type: 'bitfield', json: 'faults', bits: { '0': 'speaker', '1': 'mic' } });
const name = jp({ id: 'name', type: 'string', json: 'name' });
const level = jp({ id: 'level', type: 'i16', json: 'level' });
const counter = jp({ id: 'counter', type: 'u32', json: 'counter' });
const tamperBit = jp({ id: 'tamper', type: 'bool', json: 'io', bit: 2 });

describe('json paths', () => {
  it('parses and follows dotted paths with indexes', () => {
    expect(parseJsonPath('a.b[2].c')).toEqual(['a', 'b', 2, 'c']);
    const doc = { a: { b: [0, 1, { c: 'x' }] } };
    expect(valueAtPath(doc, 'a.b[2].c')).toBe('x');
    expect(valueAtPath(doc, 'a.b[5].c')).toBeUndefined();
    expect(valueAtPath(doc, 'a.x')).toBeUndefined();
    expect(valueAtPath({ a: 'str' }, 'a.length')).toBeUndefined();
    expect(valueAtPath({}, 'constructor')).toBeUndefined();
  });
});

describe('decodeJsonPoint: same map/scale semantics as the register codec', () => {
  it.each([
    [door, true, 'open'],
    [door, 0, 'closed'],
    [door, 'open', 'open'],
    [battery, 372, 3.72],
    [battery, 3.7, 0.037],
    [temp, 21.5, 21.5],
    [mode, 1, 'armed'],
    [mode, 7, 'unknown_7'],
    [mode, 'idle', 'idle'],
    [flags, 3, { speaker: true, mic: true }],
    [flags, { mic: true }, { speaker: false, mic: true }],
    [name, 'Door 7', 'Door 7'],
    [level, -5, -5],
    [counter, 4_000_000_000, 4_000_000_000],
    [tamperBit, 0b100, true],
    [tamperBit, 0b011, false],
    [battery, null, null],
  ])('%o with %o -> %o', (def, raw, value) => {
    expect(decodeJsonPoint(def, raw)).toEqual({ ok: true, value });
  });

  it.each([
    [door, 'ajar', /expected true\/false, 0\/1 or one of closed\/open, got "ajar"/],
    [battery, '3.7', /expected a number, got "3.7"/],
    [battery, 70_000, /out of range for u16/],
    [level, 40_000, /out of range for i16/],
    [mode, 'boom', /expected an integer or one of idle\/armed/],
    [flags, { mic: 'yes' }, /flag "mic": expected true\/false/],
    [flags, [1], /expected an integer bitmap/],
    [name, 5, /expected a string, got number 5/],
    [temp, {}, /expected a number, got an object/],
  ])('%o with %o is a problem', (def, raw, problem) => {
    const r = decodeJsonPoint(def, raw);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.problem).toMatch(problem);
  });
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

describe('DeviceIntake', () => {
  const points: PointDef[] = [door, battery, temp, mode];
  const make = (clock = { t: 1000 }) => {
    const { log, lines } = capture();
    const got: DeviceValues[] = [];
    const intake = new DeviceIntake({
      pointsOf: (d) => (d === 'door-7' ? points : undefined),
      onValues: (v) => got.push(v),
      log,
      clock: () => clock.t,
      warnEveryMs: 60_000,
    });
    const send = (payload: string, device = 'door-7') =>
      intake.handle({ device, topic: `shouwang/v1/${device}/up`, payload: Buffer.from(payload), clientId: 'c', username: device });
    return { intake, got, lines, send, clock };
  };

  it('maps a JSON uplink to point values', () => {
    const { got, send, intake } = make();
    send(JSON.stringify({ status: { door: 1 }, battery: 365, sensors: [{ t: 22.25 }], extra: 'ignored' }));
    expect(got).toEqual([{ device: 'door-7', values: { door: 'open', battery: 3.65, temp: 22.25 }, ts: 1000 }]);
    expect(intake.stats()).toMatchObject({ messages: 1, accepted: 1 });
  });

  it('a wrong field is logged with topic and field, counted, and the other fields still arrive', async () => {
    const { got, send, lines, intake } = make();
    send(JSON.stringify({ status: { door: 'ajar' }, battery: 300 }));
    expect(got).toEqual([{ device: 'door-7', values: { battery: 3 }, ts: 1000 }]);
    expect(intake.stats().badFields).toBe(1);
    await new Promise((r) => setImmediate(r));
    const line = lines.find((l) => String(l.msg).includes('status.door'));
    expect(line?.msg).toMatch(/shouwang\/v1\/door-7\/up: field "status.door" \(point door, bool\)/);
    expect(line?.topic).toBe('shouwang/v1/door-7/up');
  });

  it('bad JSON is logged and counted, never thrown', async () => {
    const { got, send, lines, intake } = make();
    expect(() => send('{"door": ')).not.toThrow();
    expect(() => send('[1,2]')).not.toThrow();
    expect(() => send('42')).not.toThrow();
    expect(got).toHaveLength(0);
    expect(intake.stats().badJson).toBe(3);
    await new Promise((r) => setImmediate(r));
    expect(lines.some((l) => /door-7\/up: payload is not JSON/.test(String(l.msg)))).toBe(true);
    expect(lines.some((l) => /must be a JSON object, got an array/.test(String(l.msg)))).toBe(true);
  });

  it('unknown devices and payloads without known points are counted and dropped', () => {
    const { got, send, intake } = make();
    send('{"battery": 1}', 'ghost');
    send('{"nothing": 1}');
    expect(got).toHaveLength(0);
    expect(intake.stats()).toMatchObject({ unknownDevice: 1, noKnownPoints: 1 });
  });

  it('repeated warnings for the same field are throttled', async () => {
    const { send, lines, clock } = make();
    for (let i = 0; i < 5; i++) send('{"battery": "x"}');
    clock.t += 61_000;
    send('{"battery": "x"}');
    await new Promise((r) => setImmediate(r));
    const warnings = lines.filter((l) => String(l.msg).includes('field "battery"'));
    expect(warnings).toHaveLength(2);
    expect(warnings[1]?.suppressed).toBe(4);
  });

  it('a throwing onValues handler does not escape', () => {
    const { log } = capture();
    const intake = new DeviceIntake({
      pointsOf: () => points,
      onValues: () => {
        throw new Error('downstream broke');
      },
      log,
    });
    expect(() => intake.handle({ device: 'd', topic: 't', payload: Buffer.from('{"battery":1}'), clientId: 'c', username: 'u' })).not.toThrow();
  });
});
