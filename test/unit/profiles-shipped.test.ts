/**
 * Every file in device-profiles/ loads through ProfileRegistry.load and is sound beyond the
 * schema: registers do not collide, commands write to writable points, a bus scan can tell the
 * models apart by their identify registers, and together the profiles exercise every feature
 * of the profile format (so the format's documentation has a real example of each).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { encodePoint } from '../../gateway/src/profiles/codec.js';
import { ProfileRegistry, loadProfileFile } from '../../gateway/src/profiles/registry.js';
import { checkRuleDefinitions } from '../../gateway/src/profiles/rules.js';
import {
  isFramePoint,
  isJsonPoint,
  isModbusPoint,
  pointTypes,
  pollOf,
  registerCount,
  type ModbusPointDef,
  type Profile,
} from '../../gateway/src/profiles/schema.js';

const dir = join(import.meta.dirname, '../../device-profiles');
const files = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const registry = ProfileRegistry.load([dir]);
const profiles = registry.list().map((l) => l.profile);
const modbusProfiles = profiles.filter((p) => p.transport.some((t) => t === 'modbus-rtu' || t === 'modbus-tcp' || t === 'rtu-over-tcp'));
const rawYaml = new Map(files.map((f) => [f, parseYaml(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>]));

describe('device-profiles/', () => {
  it('holds at least eleven profiles and the registry loads every one of them', () => {
    expect(files.length).toBeGreaterThanOrEqual(11);
    expect(profiles).toHaveLength(files.length);
  });

  it.each(files)('%s validates on its own and is named after its id', (f) => {
    const p = loadProfileFile(join(dir, f));
    expect(f).toBe(`${p.id}.yaml`);
    expect(checkRuleDefinitions(p)).toEqual([]);
    // Chinese and English names, both real (the console shows the zh one to managers).
    expect(p.name.zh).toMatch(/[\u4e00-\u9fff]/);
    expect(p.name.en).toMatch(/[A-Za-z]/);
    for (const pt of p.points) if (pt.name) expect(pt.name.zh, `${p.id}.${pt.id}`).toMatch(/[\u4e00-\u9fff]/);
    for (const e of p.events) expect(e.name.zh, `${p.id}.${e.id}`).toMatch(/[\u4e00-\u9fff]/);
  });
});

/** Registers (or bits) a Modbus point occupies, as `table:address` keys. */
function cells(pt: ModbusPointDef): string[] {
  const n = pt.table === 'coil' || pt.table === 'discrete' ? 1 : registerCount(pt);
  return Array.from({ length: n }, (_, i) => `${pt.table}:${pt.address + i}`);
}

describe.each(modbusProfiles.map((p) => [p.id, p] as const))('Modbus profile %s', (_id, p) => {
  const points = p.points.filter(isModbusPoint);

  it('has an identify block with specific values, outside every point', () => {
    expect(p.identify).toBeDefined();
    const id = p.identify!;
    expect(id.expect).toHaveLength(id.count);
    expect(id.expect.some((v) => v !== null && v !== 0), 'an identify of zeros matches any blank device').toBe(true);
    const used = new Set(points.flatMap(cells));
    for (let i = 0; i < id.count; i++) expect(used.has(`${id.table}:${id.address + i}`), `identify ${id.table}:${id.address + i}`).toBe(false);
  });

  it('points do not overlap, except bit/mask fields sharing a register on purpose', () => {
    const owner = new Map<string, ModbusPointDef>();
    for (const pt of points) {
      for (const c of cells(pt)) {
        const other = owner.get(c);
        if (other) {
          const shared = (x: ModbusPointDef) => x.bit !== undefined || x.mask !== undefined || x.type === 'bitfield';
          expect(shared(pt) && shared(other), `${pt.id} and ${other.id} both use ${c}`).toBe(true);
          // and their bits must not collide
          const bitsOf = (x: ModbusPointDef) => (x.type === 'bitfield' ? Object.keys(x.bits ?? {}).reduce((m, b) => m | (1 << Number(b)), 0) : x.bit !== undefined ? 1 << x.bit : (x.mask ?? 0xffff));
          expect(bitsOf(pt) & bitsOf(other), `${pt.id} and ${other.id} share bits of ${c}`).toBe(0);
        }
        owner.set(c, pt);
      }
    }
  });

  it('every point fits one read, and bit tables hold only bools', () => {
    for (const pt of points) {
      expect(registerCount(pt)).toBeLessThanOrEqual(p.maxReadRegisters);
      if (pt.table === 'coil' || pt.table === 'discrete') expect(pt.type).toBe('bool');
    }
  });

  it('every command writes a writable point of the right kind', () => {
    for (const c of p.commands) {
      if (!c.write) continue;
      const target = points.find((pt) => pt.table === c.write!.table && pt.address === c.write!.address);
      expect(target, `${c.id} writes ${c.write.table}:${c.write.address}`).toBeDefined();
      expect(target!.writable, `${c.id} -> ${target!.id}`).toBe(true);
      if (c.write.value === undefined) expect(c.argument, `${c.id} takes its value from an argument`).toBeDefined();
      if (c.write.table === 'coil' && c.write.value !== undefined) expect(typeof c.write.value, c.id).toBe('boolean');
    }
  });
});

describe('a bus scan can tell the models apart', () => {
  /** The registers a device of this profile answers: every point at a sample value, plus its identify. */
  function image(p: Profile): Map<string, number> {
    const regs = new Map<string, number>();
    for (const pt of p.points.filter(isModbusPoint)) {
      const sample = pt.type === 'bool' ? true : pt.type === 'enum' ? Object.values(pt.map ?? {})[0]! : pt.type === 'bitfield' ? {} : pt.type === 'string' ? 'MODEL' : 1;
      encodePoint(pt, sample, p).forEach((v, i) => {
        const key = `${pt.table}:${pt.address + i}`;
        regs.set(key, (regs.get(key) ?? 0) | v);
      });
    }
    p.identify!.expect.forEach((v, i) => regs.set(`${p.identify!.table}:${p.identify!.address + i}`, v ?? 0));
    return regs;
  }

  function matches(p: Profile, regs: Map<string, number>): boolean {
    const id = p.identify!;
    return id.expect.every((want, i) => {
      const got = regs.get(`${id.table}:${id.address + i}`);
      return got !== undefined && (want === null || got === want);
    });
  }

  it.each(modbusProfiles.map((p) => [p.id, p] as const))('a %s answers to its own identify and no other', (_id, p) => {
    const regs = image(p);
    expect(matches(p, regs)).toBe(true);
    const others = modbusProfiles.filter((o) => o.id !== p.id && matches(o, regs)).map((o) => o.id);
    expect(others).toEqual([]);
  });

  it('no two profiles expect the same values at the same registers', () => {
    const keys = modbusProfiles.map((p) => JSON.stringify(p.identify));
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('together the profiles exercise the whole format', () => {
  const points = profiles.flatMap((p) => p.points.map((pt) => ({ p, pt })));
  const triggers = profiles.flatMap((p) => p.events.map((e) => e.when));
  const alarms = profiles.flatMap((p) => p.events.flatMap((e) => (e.alarm ? [{ p, e, a: e.alarm }] : [])));

  it('all four Modbus tables and every point type', () => {
    const tables = new Set(points.flatMap(({ pt }) => (isModbusPoint(pt) ? [pt.table] : [])));
    expect([...tables].sort()).toEqual(['coil', 'discrete', 'holding', 'input']);
    expect([...new Set(points.map(({ pt }) => pt.type))].sort()).toEqual([...pointTypes].sort());
  });

  it('byte order, word order (LE somewhere), scale, offset, unit, deadband, bit, mask/shift, decimalsFrom', () => {
    const has = (f: (pt: (typeof points)[number]['pt']) => boolean) => points.some(({ pt }) => f(pt));
    expect(has((pt) => pt.byteOrder === 'LE')).toBe(true);
    expect(has((pt) => pt.wordOrder === 'LE' && registerCount(pt) === 2)).toBe(true);
    expect(has((pt) => pt.scale !== undefined)).toBe(true);
    expect(has((pt) => pt.offset !== undefined && isModbusPoint(pt))).toBe(true);
    expect(has((pt) => pt.unit !== undefined)).toBe(true);
    expect(has((pt) => pt.deadband !== undefined)).toBe(true);
    expect(has((pt) => pt.bit !== undefined && isModbusPoint(pt) && pt.table !== 'coil' && pt.table !== 'discrete')).toBe(true);
    expect(has((pt) => pt.mask !== undefined && pt.shift !== undefined)).toBe(true);
    expect(has((pt) => pt.decimalsFrom !== undefined)).toBe(true);
  });

  it('addressBase 1 (datasheet 4x0001 style) in at least one file, and it is applied', () => {
    const based = [...rawYaml.entries()].filter(([, y]) => y.addressBase === 1).map(([f]) => f);
    expect(based.length).toBeGreaterThan(0);
    for (const f of based) {
      const y = rawYaml.get(f)!;
      const p = registry.get(String(y.id));
      const rawPoints = y.points as Array<{ id: string; address?: number }>;
      for (const rp of rawPoints) {
        const pt = p.points.find((x) => x.id === rp.id)!;
        if (rp.address !== undefined && isModbusPoint(pt)) expect(pt.address, `${f} ${rp.id}`).toBe(rp.address - 1);
      }
    }
  });

  it('per-point poll classes including priority: alarm, slow and a fixed interval', () => {
    const polls = new Set(points.map(({ pt }) => pollOf(pt)));
    expect(polls.has('alarm')).toBe(true);
    expect(polls.has('slow')).toBe(true);
    expect(polls.has('fast')).toBe(true);
    expect([...polls].some((x) => typeof x === 'number')).toBe(true);
    expect(points.some(({ pt }) => pt.priority === 'alarm')).toBe(true);
  });

  it('every trigger form, while, for, debounce and hysteresis', () => {
    expect(triggers.some((t) => t.becomes !== undefined)).toBe(true);
    expect(triggers.some((t) => t.equals !== undefined)).toBe(true);
    expect(triggers.some((t) => t.flag !== undefined)).toBe(true);
    expect(triggers.some((t) => t.above !== undefined && t.hysteresis !== undefined)).toBe(true);
    expect(triggers.some((t) => t.below !== undefined && t.hysteresis !== undefined)).toBe(true);
    expect(triggers.some((t) => t.changes === true)).toBe(true);
    expect(triggers.some((t) => t.received === true)).toBe(true);
    expect(triggers.some((t) => t.becomes !== undefined && t.while !== undefined)).toBe(true);
    expect(triggers.some((t) => t.for === 60_000)).toBe(true);
    expect(triggers.some((t) => t.debounce !== undefined)).toBe(true);
  });

  it('alarms: emergencies latch, tamper / smoke / gas restore, duress is silent', () => {
    for (const { p, e, a } of alarms) {
      if (a.severity === 'emergency') expect(a.latch ?? true, `${p.id}.${e.id}`).toBe(true);
      if (a.restore) expect(a.siaRestore, `${p.id}.${e.id} restores with a SIA code`).toBeDefined();
    }
    const restoring = (code: string) => alarms.filter(({ a }) => a.sia === code);
    for (const code of ['TA', 'FA', 'GA']) {
      expect(restoring(code).length, code).toBeGreaterThan(0);
      for (const { a } of restoring(code)) expect(a.restore, code).toBe(true);
    }
    expect(alarms.find(({ a }) => a.sia === 'HA')?.a.silent).toBe(true);
  });

  it('commands: coil and holding writes, pulses, frames, roles', () => {
    const commands = profiles.flatMap((p) => p.commands);
    expect(commands.some((c) => c.write?.table === 'coil' && c.pulse !== undefined)).toBe(true);
    expect(commands.some((c) => c.write?.table === 'holding' && c.argument !== undefined)).toBe(true);
    expect(commands.some((c) => c.frame !== undefined && c.argument !== undefined)).toBe(true);
    expect(new Set(commands.flatMap((c) => c.roles)).size).toBeGreaterThanOrEqual(3);
  });

  it('a raw-serial board with the WKLY framing and an MQTT-native JSON device', () => {
    const board = registry.get('wkly-lock-board');
    expect(board.serial?.framing).toEqual({
      header: [0x57, 0x4b, 0x4c, 0x59],
      length: { offset: 4, counts: 'frame' },
      addressOffset: 5,
      commandOffset: 6,
      dataOffset: 7,
      checksum: { type: 'xor', from: 0 },
    });
    expect(board.points.every(isFramePoint)).toBe(true);
    const mqtt = registry.get('generic-mqtt-door-sensor');
    expect(mqtt.transport).toEqual(['mqtt']);
    expect(mqtt.points.every(isJsonPoint)).toBe(true);
  });

  it('the lock board example frame in the profile and the contract has the right length and XOR', () => {
    const text = readFileSync(join(dir, 'wkly-lock-board.yaml'), 'utf8');
    const m = /open lock 3 on board 0:\s+((?:[0-9A-F]{2} )+[0-9A-F]{2})/.exec(text);
    expect(m).not.toBeNull();
    const bytes = m![1]!.split(' ').map((h) => parseInt(h, 16));
    expect(bytes[4]).toBe(bytes.length);
    expect(bytes.slice(0, -1).reduce((x, b) => x ^ b, 0)).toBe(bytes.at(-1));
    const contract = readFileSync(join(import.meta.dirname, '../../docs/profile-contract.md'), 'utf8');
    expect(contract).toContain(m![1]!);
  });
});
