/**
 * The simulated device's register image and the Modbus slave logic on top of it: values go in
 * through the gateway's codec and come back out decoded the same way; reads and writes behave
 * (and fail) as a device does.
 */
import { describe, expect, it, vi } from 'vitest';
import { profileSchema } from '../../gateway/src/profiles/schema.js';
import { ModbusException, SimDevice } from '../../simulator/src/device-model.js';
import { answerPdu, executeBroadcast } from '../../simulator/src/modbus-slave.js';
import type { VillageDevice } from '../../simulator/src/village-schema.js';

const name = { zh: '测试', en: 'test' };
const profile = profileSchema.parse({
  id: 'test-device',
  name,
  kind: 'door-lock',
  transport: ['modbus-rtu'],
  maxReadRegisters: 8,
  identify: { table: 'holding', address: 0, count: 2, expect: [0x5357, 0x0101] },
  points: [
    { id: 'door', table: 'discrete', address: 0, type: 'bool', map: { 0: 'closed', 1: 'open' } },
    { id: 'bolt', table: 'discrete', address: 1, type: 'bool', map: { 0: 'unlocked', 1: 'locked' } },
    { id: 'event_seq', table: 'input', address: 0, type: 'u16' },
    { id: 'last_method', table: 'input', address: 2, type: 'enum', map: { 1: 'fingerprint', 2: 'card' } },
    { id: 'battery', table: 'input', address: 10, type: 'u16', scale: 0.01, unit: 'V' },
    { id: 'life', table: 'input', address: 6, type: 'u16', mask: 0xff00, shift: 8 },
    { id: 'warm', table: 'input', address: 6, type: 'bool', bit: 0, map: { 0: 'ready', 1: 'warming' } },
    { id: 'conc', table: 'input', address: 7, type: 'u16', decimalsFrom: 'res' },
    { id: 'big', table: 'input', address: 8, type: 'u32', wordOrder: 'LE' },
    { id: 'res', table: 'holding', address: 4, type: 'u16' },
    { id: 'relay', table: 'coil', address: 3, type: 'bool' },
    { id: 'pressed', table: 'discrete', address: 2, type: 'bool' },
  ],
});

const config: VillageDevice = {
  id: 'dev-1',
  name: undefined,
  profile: profile.id,
  busId: 'bus',
  unitId: 1,
  location: {},
  tenants: [],
  initial: {},
  sourcePath: [],
};

function exceptionOf(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (!(e instanceof ModbusException)) throw e;
    return e.exceptionCode;
  }
}

const make = (report = vi.fn()) => ({ d: new SimDevice(config, profile, report), report });

describe('SimDevice register image', () => {
  it('stores values through the codec and reads them back decoded', () => {
    const { d } = make();
    expect(d.set('door', 'open')).toBe(true);
    expect(d.tables.discrete[0]).toBe(1);
    expect(d.get('door')).toBe('open');
    d.set('battery', 5.87);
    expect(d.tables.input[10]).toBe(587);
    expect(d.get('battery')).toBe(5.87);
    d.set('last_method', 'card');
    expect(d.tables.input[2]).toBe(2);
    d.set('big', 0x12345678);
    expect([d.tables.input[8], d.tables.input[9]]).toEqual([0x5678, 0x1234]);
    expect(d.get('big')).toBe(0x12345678);
  });

  it('merges points that share a register (mask/shift and single bits)', () => {
    const { d } = make();
    d.set('life', 96);
    d.set('warm', 'warming');
    expect(d.tables.input[6]).toBe((96 << 8) | 1);
    expect(d.get('life')).toBe(96);
    expect(d.get('warm')).toBe('warming');
    d.set('warm', 'ready');
    expect(d.tables.input[6]).toBe(96 << 8);
  });

  it('scales by decimalsFrom as the device reports its resolution', () => {
    const { d } = make();
    d.set('res', 1);
    d.set('conc', 25.3);
    expect(d.tables.input[7]).toBe(253);
    expect(d.get('conc')).toBe(25.3);
  });

  it('takes contract labels for bool points without that label in their map', () => {
    const { d } = make();
    expect(d.set('pressed', 'pressed')).toBe(true);
    expect(d.get('pressed')).toBe(true);
    expect(d.set('bolt', 'locked')).toBe(true);
    expect(d.tables.discrete[1]).toBe(1);
  });

  it('skips a point the profile lacks (or a label it cannot hold) and reports it instead of throwing', () => {
    const { d, report } = make();
    expect(d.set('help_light', true)).toBe(false);
    expect(d.get('help_light')).toBeUndefined();
    expect(report).toHaveBeenCalledWith(d, 'help_light', expect.stringContaining('no such point'));
    expect(d.set('last_method', 'retina')).toBe(false);
    expect(report).toHaveBeenCalledTimes(2);
  });

  it('serves the identify registers and sizes each table to its points', () => {
    const { d } = make();
    expect(d.read('holding', 0, 2)).toEqual([0x5357, 0x0101]);
    expect(d.tables.input.length).toBe(11);
    expect(exceptionOf(() => d.read('input', 5, 7))).toBe(2); // beyond the last input register
    expect(exceptionOf(() => d.read('input', 0, 9))).toBe(3); // above the model's maxReadRegisters (8)
    expect(exceptionOf(() => d.read('input', 0, 8))).toBeUndefined();
  });

  it('records master writes with their time and the points they touched, and tells listeners', () => {
    const { d } = make();
    const seen = vi.fn();
    d.onWrite(seen);
    const rec = d.write('coil', 3, [1], 5, 1234.567);
    expect(rec).toMatchObject({ ts: 1234.567, fc: 5, table: 'coil', address: 3, values: [1], points: { relay: true } });
    expect(seen).toHaveBeenCalledWith(rec);
    expect(d.writes()).toEqual([rec]);
    expect(d.writes(2000)).toEqual([]);
    d.clearWrites();
    expect(d.writes()).toEqual([]);
  });
});

describe('Modbus slave answers', () => {
  const pdu = (...b: number[]) => Buffer.from(b);

  it('reads holding registers and discrete inputs', () => {
    const { d } = make();
    d.set('door', 'open');
    expect([...answerPdu(d, pdu(0x03, 0, 0, 0, 2), 0).pdu]).toEqual([0x03, 4, 0x53, 0x57, 0x01, 0x01]);
    expect([...answerPdu(d, pdu(0x02, 0, 0, 0, 3), 0).pdu]).toEqual([0x02, 1, 0b001]);
  });

  it('executes single and multiple writes and echoes them', () => {
    const { d } = make();
    expect([...answerPdu(d, pdu(0x05, 0, 3, 0xff, 0x00), 0).pdu]).toEqual([0x05, 0, 3, 0xff, 0x00]);
    expect(d.get('relay')).toBe(true);
    expect([...answerPdu(d, pdu(0x10, 0, 4, 0, 1, 2, 0, 2), 0).pdu]).toEqual([0x10, 0, 4, 0, 1]);
    expect(d.get('res')).toBe(2);
    expect([...answerPdu(d, pdu(0x0f, 0, 2, 0, 2, 1, 0b10), 0).pdu]).toEqual([0x0f, 0, 2, 0, 2]);
    expect([d.tables.coil[2], d.tables.coil[3]]).toEqual([0, 1]);
  });

  it('answers exceptions: illegal function, address, value', () => {
    const { d } = make();
    expect(answerPdu(d, pdu(0x08, 0, 0, 0, 0), 0)).toEqual({ pdu: Buffer.from([0x88, 1]), exception: 1 });
    expect(answerPdu(d, pdu(0x04, 0, 50, 0, 1), 0)).toEqual({ pdu: Buffer.from([0x84, 2]), exception: 2 });
    expect(answerPdu(d, pdu(0x05, 0, 3, 0x12, 0x34), 0).exception).toBe(3);
    expect(answerPdu(d, pdu(0x10, 0, 4, 0, 2, 2, 0, 1), 0).exception).toBe(3); // byte count says 2 registers need 4
    expect(answerPdu(d, pdu(0x06, 0, 9, 0, 1), 0).exception).toBe(2); // holding has 5 registers
  });

  it('executes broadcast writes and ignores broadcast reads', () => {
    const { d } = make();
    executeBroadcast(d, pdu(0x05, 0, 3, 0xff, 0x00), 0);
    expect(d.get('relay')).toBe(true);
    executeBroadcast(d, pdu(0x03, 0, 0, 0, 2), 0);
    expect(d.writes()).toHaveLength(1);
  });
});
