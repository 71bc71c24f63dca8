import { describe, expect, it } from 'vitest';
import { deviceSchema, pollingSchema, type DeviceConfig } from '../../gateway/src/config/schema.js';
import { isShouwangError } from '../../gateway/src/errors.js';
import { blockCostMs, blockWireBytes, decodeBlock, planDevice, statePointSpecs, type ReadBlock } from '../../gateway/src/polling/planner.js';
import { profileSchema, type ProfileInput } from '../../gateway/src/profiles/schema.js';
import { transactionMinMs } from '../../gateway/src/protocol/wire-timing.js';

const polling = pollingSchema.parse({});
const rtu9600 = { wire: { framing: 'rtu' as const, baudRate: 9600 } };
const rtu115200 = { wire: { framing: 'rtu' as const, baudRate: 115200 } };

function profile(points: ProfileInput['points'], extra: Partial<ProfileInput> = {}) {
  return profileSchema.parse({ id: 'test-device', name: { zh: '测试', en: 'Test' }, kind: 'other', transport: ['modbus-rtu'], points, ...extra });
}
function device(extra: Partial<DeviceConfig> = {}): DeviceConfig {
  return deviceSchema.parse({ id: 'dev1', profile: 'test-device', bus: 'bus1', unitId: 7, ...extra });
}
const u16 = (id: string, address: number, more: Record<string, unknown> = {}) => ({ id, table: 'input' as const, address, type: 'u16' as const, ...more });
const shape = (blocks: ReadBlock[]) => blocks.map((b) => `${b.table}:${b.address}+${b.count}:${b.pollClass}`);

describe('read planner: merging', () => {
  it('merges contiguous registers (incl. 32-bit points) into one read', () => {
    const p = profile([u16('a', 0), { id: 'b', table: 'input', address: 1, type: 'u32' }, u16('c', 3)]);
    const plan = planDevice(device(), p, polling, rtu9600);
    expect(shape(plan.blocks)).toEqual(['input:0+4:normal']);
    expect(plan.blocks[0]!.points.map((x) => [x.def.id, x.offset, x.count])).toEqual([
      ['a', 0, 1],
      ['b', 1, 2],
      ['c', 3, 1],
    ]);
    expect(plan.blocks[0]!.unitId).toBe(7);
    expect(plan.blocks[0]!.gap).toBe(0);
  });

  it('reads through a gap only while one transaction is cheaper than two (9600 baud: up to 9 registers)', () => {
    // At 9600 baud a second transaction costs 8 + 5 bytes plus two 3.5-char silences = 20 chars;
    // reading through costs 2 bytes per register, so gaps of <= 9 registers are merged, 10 are not.
    const merged = planDevice(device(), profile([u16('a', 0), u16('b', 10)]), polling, rtu9600);
    expect(shape(merged.blocks)).toEqual(['input:0+11:normal']);
    expect(merged.blocks[0]!.gap).toBe(9);
    const split = planDevice(device(), profile([u16('a', 0), u16('b', 11)]), polling, rtu9600);
    expect(shape(split.blocks)).toEqual(['input:0+1:normal', 'input:11+1:normal']);
    // The decision matches the wire-timing arithmetic: gap 9 saves 2 chars, gap 10 is a tie (no gain, not merged).
    expect(2 * transactionMinMs(8, 7, 9600) - transactionMinMs(8, 5 + 2 * 11, 9600)).toBeCloseTo((2 * 11) / 9.6, 6);
    expect(transactionMinMs(8, 5 + 2 * 12, 9600)).toBeCloseTo(2 * transactionMinMs(8, 7, 9600), 6);
  });

  it('merges wider gaps at 115200 baud, where the fixed 1.75 ms silences dominate (up to 24 registers)', () => {
    expect(shape(planDevice(device(), profile([u16('a', 0), u16('b', 25)]), polling, rtu115200).blocks)).toEqual(['input:0+26:normal']);
    expect(shape(planDevice(device(), profile([u16('a', 0), u16('b', 26)]), polling, rtu115200).blocks)).toHaveLength(2);
  });

  it('honours maxGap even when reading through would be cheaper', () => {
    const p = profile([u16('a', 0), u16('b', 5)]);
    expect(planDevice(device(), p, polling, { ...rtu9600, maxGap: 3 }).blocks).toHaveLength(2);
    expect(planDevice(device(), p, polling, { ...rtu9600, maxGap: 4 }).blocks).toHaveLength(1);
  });

  it('merges bit gaps by their real byte cost', () => {
    // 1 bit at 0 and 1 at 100: merged would be 101 bits = 13 data bytes vs a second 14-byte transaction.
    const pts = (gapEnd: number) => [
      { id: 'x', table: 'discrete' as const, address: 0, type: 'bool' as const },
      { id: 'y', table: 'discrete' as const, address: gapEnd, type: 'bool' as const },
    ];
    expect(planDevice(device(), profile(pts(100)), polling, rtu9600).blocks).toHaveLength(1);
    expect(planDevice(device(), profile(pts(200)), polling, rtu9600).blocks).toHaveLength(2);
  });

  it('never exceeds maxReadRegisters / maxReadBits and never splits a point', () => {
    const regs = profile(Array.from({ length: 10 }, (_, i) => u16(`r${i}`, i)), { maxReadRegisters: 4 });
    expect(shape(planDevice(device(), regs, polling, rtu9600).blocks)).toEqual(['input:0+4:normal', 'input:4+4:normal', 'input:8+2:normal']);
    const bits = profile(
      Array.from({ length: 20 }, (_, i) => ({ id: `b${i}`, table: 'coil' as const, address: i, type: 'bool' as const })),
      { maxReadBits: 8 },
    );
    expect(shape(planDevice(device(), bits, polling, rtu9600).blocks)).toEqual(['coil:0+8:normal', 'coil:8+8:normal', 'coil:16+4:normal']);
    const wide = profile(
      [u16('a', 0), { id: 'b', table: 'holding', address: 1, type: 'u32' }, { id: 'c', table: 'holding', address: 3, type: 'u32' }, { ...u16('d', 0), table: 'holding' }],
      { maxReadRegisters: 3 },
    );
    expect(shape(planDevice(device(), wide, polling, rtu9600).blocks)).toEqual(['holding:0+3:normal', 'holding:3+2:normal', 'input:0+1:normal']);
  });

  it('folds points sharing a register (bits of one register) into one read', () => {
    const p = profile([
      { id: 'flags', table: 'holding', address: 2, type: 'bitfield', bits: { '0': 'a', '1': 'b' } },
      { id: 'bit1', table: 'holding', address: 2, type: 'bool', bit: 1 },
      { id: 'next', table: 'holding', address: 3, type: 'u16' },
    ]);
    const plan = planDevice(device(), p, polling, rtu9600);
    expect(shape(plan.blocks)).toEqual(['holding:2+2:normal']);
    expect(decodeBlock(plan.blocks[0]!, [0b10, 42], plan.codec).values).toEqual({ flags: { a: false, b: true }, bit1: true, next: 42 });
  });
});

describe('read planner: poll classes', () => {
  const pole = profile([
    { id: 'button', table: 'discrete', address: 0, type: 'bool', priority: 'alarm' },
    { id: 'tamper', table: 'discrete', address: 1, type: 'bool', priority: 'alarm' },
    { id: 'fault', table: 'discrete', address: 2, type: 'bool' },
    u16('call_state', 0),
    u16('battery', 1, { poll: 'slow', unit: 'V', deadband: 0.1 }),
    u16('counter', 2, { poll: 30000 }),
    u16('temp', 3, { poll: 1000 }),
  ]);

  it('groups by table and class; alarm blocks cover only the alarm points and come first', () => {
    const plan = planDevice(device(), pole, polling, rtu9600);
    expect(shape(plan.blocks)).toEqual([
      'discrete:0+2:alarm',
      'discrete:2+1:normal',
      'input:0+1:normal',
      'input:1+1:slow',
      'input:2+1:custom',
      'input:3+1:fast',
    ]);
    const byClass = Object.fromEntries(plan.blocks.map((b) => [b.pollClass, b.intervalMs]));
    expect(byClass).toEqual({ alarm: 0, normal: 5000, slow: 60000, custom: 30000, fast: 1000 });
    expect(plan.blocks[0]!.points.map((p) => p.def.id)).toEqual(['button', 'tamper']);
  });

  it('lets classes with the same interval share reads (named after the fastest); alarm points still read alone', () => {
    const everyClassAt1s = pollingSchema.parse({ intervals: { alarm: 1000, fast: 1000, normal: 1000, slow: 1000 } });
    const plan = planDevice(device(), pole, everyClassAt1s, rtu9600);
    // call_state (normal), battery (slow) and temp (1000 ms: fast) are one read, through the
    // register of counter (30000 ms), which keeps its own read.
    expect(shape(plan.blocks)).toEqual(['discrete:0+2:alarm', 'discrete:2+1:normal', 'input:0+4:fast', 'input:2+1:custom']);
    const merged = plan.blocks.find((b) => b.table === 'input' && b.address === 0)!;
    expect(merged.points.map((p) => p.def.id)).toEqual(['call_state', 'battery', 'temp']);
    expect(merged.intervalMs).toBe(1000);
    // fast and normal at one interval, slow apart: call_state (normal) and temp (fast) share,
    // battery (slow) does not.
    const twoAlike = pollingSchema.parse({ intervals: { fast: 1000, normal: 1000, slow: 60000 } });
    const plan2 = planDevice(device(), pole, twoAlike, rtu9600);
    expect(shape(plan2.blocks)).toEqual(['discrete:0+2:alarm', 'discrete:2+1:normal', 'input:0+4:fast', 'input:1+1:slow', 'input:2+1:custom']);
    expect(plan2.blocks.find((b) => b.address === 0 && b.table === 'input')!.points.map((p) => p.def.id)).toEqual(['call_state', 'temp']);
  });

  it('applies per-device poll overrides (class or interval)', () => {
    const plan = planDevice(device({ poll: { battery: 'fast', fault: 'alarm', call_state: 2500 } }), pole, polling, rtu9600);
    expect(shape(plan.blocks)).toEqual(['discrete:0+3:alarm', 'input:0+1:custom', 'input:1+3:fast', 'input:2+1:custom']);
    expect(plan.blocks.find((b) => b.address === 0 && b.table === 'input')!.intervalMs).toBe(2500);
  });

  it('rejects an override naming a point the profile does not have', () => {
    try {
      planDevice(device({ poll: { nope: 'fast' } }), pole, polling, rtu9600);
      expect.unreachable();
    } catch (err) {
      expect(isShouwangError(err, 'SW_ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('"nope"');
    }
  });

  it('gives the state the interval, unit and deadband of every point', () => {
    const specs = statePointSpecs(device(), pole, polling);
    expect(specs.find((s) => s.id === 'battery')).toEqual({ id: 'battery', unit: 'V', deadband: 0.1, intervalMs: 60000 });
    expect(specs.find((s) => s.id === 'button')).toEqual({ id: 'button', intervalMs: 0 });
  });
});

describe('read planner: wire bytes and decoding', () => {
  it('computes RTU and TCP frame sizes', () => {
    expect(blockWireBytes('holding', 10)).toEqual({ request: 8, reply: 25 });
    expect(blockWireBytes('discrete', 10)).toEqual({ request: 8, reply: 7 });
    expect(blockWireBytes('coil', 8)).toEqual({ request: 8, reply: 6 });
    expect(blockWireBytes('input', 3, 'tcp')).toEqual({ request: 12, reply: 15 });
    expect(blockCostMs('holding', 10, { framing: 'rtu', baudRate: 9600 })).toBeCloseTo(transactionMinMs(8, 25, 9600), 9);
  });

  it('decodes registers per point, bits one element each, with profile byte order and scale', () => {
    const p = profile(
      [
        { id: 'door', table: 'discrete', address: 0, type: 'bool', map: { '0': 'closed', '1': 'open' } },
        { id: 'bolt', table: 'discrete', address: 1, type: 'bool' },
        u16('volts', 0, { scale: 0.01 }),
        { id: 'count', table: 'input', address: 1, type: 'u32' },
      ],
      { wordOrder: 'LE' },
    );
    const plan = planDevice(device(), p, polling, rtu9600);
    const [bitsBlock, regBlock] = plan.blocks;
    expect(decodeBlock(bitsBlock!, [1, 0], plan.codec).values).toEqual({ door: 'open', bolt: false });
    expect(decodeBlock(regBlock!, [1234, 0x0002, 0x0001], plan.codec).values).toEqual({ volts: 12.34, count: 0x00010002 });
  });

  it('reports undecodable values and short replies as bad instead of throwing', () => {
    const p = profile([{ id: 'f', table: 'holding', address: 0, type: 'f32' }, u16('g', 2, { table: 'holding' })]);
    const plan = planDevice(device(), p, polling, rtu9600);
    const nan = decodeBlock(plan.blocks[0]!, [0x7fc0, 0x0000, 5], plan.codec);
    expect(nan.values).toEqual({ g: 5 });
    expect(nan.bad).toEqual({ f: 'not a finite number' });
    const short = decodeBlock(plan.blocks[0]!, [0x4049], plan.codec);
    expect(Object.keys(short.bad).sort()).toEqual(['f', 'g']);
  });

  it('applies decimalsFrom from the same read or an earlier one, and holds the value until the scale is known', () => {
    const p = profile([
      u16('concentration', 0, { decimalsFrom: 'resolution', unit: '%LEL' }),
      { id: 'resolution', table: 'holding', address: 0, type: 'u16', poll: 'slow' },
    ]);
    const plan = planDevice(device(), p, polling, rtu9600);
    const conc = plan.blocks.find((b) => b.table === 'input')!;
    const first = decodeBlock(conc, [1234], plan.codec);
    expect(first.values).toEqual({});
    expect(first.pending).toEqual(['concentration']);
    expect(decodeBlock(conc, [1234], plan.codec, { resolution: 2 }).values).toEqual({ concentration: 12.34 });
    expect(decodeBlock(conc, [1234], plan.codec, { resolution: 70000 }).bad.concentration).toMatch(/bad decimals/);
  });
});
