/**
 * Register -> value decoding and back, on hand-computed register images: word and byte order,
 * signs, floats, scale/offset rounding, bitfields, enums, strings, bits, masks, decimalsFrom and
 * raw-serial frame points.
 */
import { describe, expect, it } from 'vitest';
import {
  applyDecimals,
  decodeFramePoint,
  decodePoint,
  encodeFramePoint,
  encodePoint,
  frameByteCount,
  plausibleDecodings,
  rawFromRegisters,
} from '../../gateway/src/profiles/codec.js';
import type { PointValue } from '../../gateway/src/core/types.js';
import { pointSchema, type FramePointDef, type PointDef } from '../../gateway/src/profiles/schema.js';

/** A holding-register point with the given extras, validated like a profile point. */
function pt(extra: Record<string, unknown>): PointDef {
  return pointSchema.parse({ id: 'p', table: 'holding', address: 0, type: 'u16', ...extra });
}
function fpt(extra: Record<string, unknown>): FramePointDef {
  return pointSchema.parse({ id: 'p', frame: 'status', offset: 0, type: 'u16', ...extra }) as FramePointDef;
}

describe('32-bit word and byte order', () => {
  // 0x12345678 = 305419896
  it('u32 big-endian words (ABCD) and little-endian words (CDAB)', () => {
    expect(decodePoint(pt({ type: 'u32' }), [0x1234, 0x5678])).toBe(0x12345678);
    expect(decodePoint(pt({ type: 'u32', wordOrder: 'LE' }), [0x5678, 0x1234])).toBe(0x12345678);
  });

  it('byte-swapped registers (BADC) and fully little-endian (DCBA)', () => {
    expect(decodePoint(pt({ type: 'u32', byteOrder: 'LE' }), [0x3412, 0x7856])).toBe(0x12345678);
    expect(decodePoint(pt({ type: 'u32', byteOrder: 'LE', wordOrder: 'LE' }), [0x7856, 0x3412])).toBe(0x12345678);
  });

  it('profile defaults apply when the point says nothing, and the point wins over them', () => {
    const regs = [0x5678, 0x1234];
    expect(decodePoint(pt({ type: 'u32' }), regs, { byteOrder: 'BE', wordOrder: 'LE' })).toBe(0x12345678);
    expect(decodePoint(pt({ type: 'u32', wordOrder: 'BE' }), regs, { byteOrder: 'BE', wordOrder: 'LE' })).toBe(0x56781234);
  });

  it('i32 sign in both word orders', () => {
    expect(decodePoint(pt({ type: 'i32' }), [0xffff, 0xfffe])).toBe(-2);
    expect(decodePoint(pt({ type: 'i32', wordOrder: 'LE' }), [0xfffe, 0xffff])).toBe(-2);
    expect(decodePoint(pt({ type: 'i32' }), [0x8000, 0x0000])).toBe(-2147483648);
    expect(decodePoint(pt({ type: 'i32' }), [0x7fff, 0xffff])).toBe(2147483647);
  });

  it('f32: 25.0 is 0x41C80000; CDAB puts the low word first; NaN reads as null', () => {
    expect(decodePoint(pt({ type: 'f32' }), [0x41c8, 0x0000])).toBe(25);
    expect(decodePoint(pt({ type: 'f32', wordOrder: 'LE' }), [0x0000, 0x41c8])).toBe(25);
    expect(decodePoint(pt({ type: 'f32' }), [0xc2f6, 0xe979])).toBeCloseTo(-123.456, 3);
    expect(decodePoint(pt({ type: 'f32' }), [0x7fc0, 0x0000])).toBeNull();
  });
});

describe('16-bit values', () => {
  it('byte order LE swaps the two bytes of the register', () => {
    expect(decodePoint(pt({ type: 'u16', byteOrder: 'LE' }), [0x3412])).toBe(0x1234);
    expect(encodePoint(pt({ type: 'u16', byteOrder: 'LE' }), 0x1234)).toEqual([0x3412]);
  });

  it('i16 sign', () => {
    expect(decodePoint(pt({ type: 'i16' }), [0xffff])).toBe(-1);
    expect(decodePoint(pt({ type: 'i16' }), [0x8000])).toBe(-32768);
    expect(decodePoint(pt({ type: 'i16' }), [0x7fff])).toBe(32767);
    expect(decodePoint(pt({ type: 'i16', scale: 0.1 }), [0xff85])).toBe(-12.3);
    expect(encodePoint(pt({ type: 'i16', scale: 0.1 }), -12.3)).toEqual([0xff85]);
  });

  it('scale and offset without floating-point noise, and encoding rounds to the nearest raw', () => {
    expect(decodePoint(pt({ scale: 0.1 }), [123])).toBe(12.3);
    expect(decodePoint(pt({ scale: 0.01 }), [1234])).toBe(12.34);
    expect(decodePoint(pt({ scale: 0.001 }), [2601])).toBe(2.601);
    // temperature with offset: raw 0.1 °C + 40 °C (raw 400 = 0 °C)
    expect(decodePoint(pt({ scale: 0.1, offset: -40 }), [400])).toBe(0);
    expect(decodePoint(pt({ scale: 0.1, offset: -40 }), [653])).toBe(25.3);
    expect(decodePoint(pt({ scale: 0.1, offset: -40 }), [0])).toBe(-40);
    expect(encodePoint(pt({ scale: 0.1, offset: -40 }), 25.3)).toEqual([653]);
    expect(encodePoint(pt({ scale: 0.01 }), 12.344)).toEqual([1234]);
    expect(encodePoint(pt({ scale: 0.01 }), 12.346)).toEqual([1235]);
  });

  it('mask and shift pick bits out of a shared register', () => {
    const life = pt({ mask: 0xff00, shift: 8 });
    expect(decodePoint(life, [0xab01])).toBe(0xab);
    expect(encodePoint(life, 0xab)).toEqual([0xab00]);
    expect(decodePoint(pt({ mask: 0x00f0, shift: 4 }), [0x1234])).toBe(3);
    // masked i16 is not sign-extended: a field inside a register is unsigned
    expect(decodePoint(pt({ type: 'i16', mask: 0xff00, shift: 8 }), [0xff00])).toBe(255);
  });
});

describe('bool, enum, bitfield, string', () => {
  const door = pt({ type: 'bool', table: 'discrete', map: { '0': 'closed', '1': 'open' } });

  it('bool from a coil/discrete bit, with and without a map', () => {
    expect(decodePoint(door, [1])).toBe('open');
    expect(decodePoint(door, [0])).toBe('closed');
    expect(decodePoint(pt({ type: 'bool', table: 'coil' }), [1])).toBe(true);
    expect(encodePoint(door, 'open')).toEqual([1]);
    expect(encodePoint(door, true)).toEqual([1]);
    expect(encodePoint(door, 'closed')).toEqual([0]);
  });

  it('bool from one bit of a register', () => {
    const lowBat = pt({ type: 'bool', table: 'input', bit: 3, map: { '0': 'normal', '1': 'low' } });
    expect(decodePoint(lowBat, [0b1000])).toBe('low');
    expect(decodePoint(lowBat, [0b0111])).toBe('normal');
    expect(decodePoint(lowBat, [0xfff7])).toBe('normal');
    expect(encodePoint(lowBat, 'low')).toEqual([0b1000]);
    expect(decodePoint(pt({ type: 'bool', bit: 15 }), [0x8000])).toBe(true);
  });

  it('enum labels, and unknown raw values read as unknown_<n> and encode back', () => {
    const method = pt({ type: 'enum', map: { '1': 'fingerprint', '2': 'card', '3': 'pin' } });
    expect(decodePoint(method, [2])).toBe('card');
    expect(decodePoint(method, [9])).toBe('unknown_9');
    expect(encodePoint(method, 'pin')).toEqual([3]);
    expect(encodePoint(method, 'unknown_9')).toEqual([9]);
    expect(encodePoint(method, 2)).toEqual([2]);
    expect(() => encodePoint(method, 'face')).toThrow(/no raw value for label "face"/);
  });

  it('bitfields name each bit', () => {
    const faults = pt({ type: 'bitfield', bits: { '0': 'speaker', '1': 'microphone', '3': 'power', '15': 'top' } });
    expect(decodePoint(faults, [0b1001])).toEqual({ speaker: true, microphone: false, power: true, top: false });
    expect(decodePoint(faults, [0x8000])).toEqual({ speaker: false, microphone: false, power: false, top: true });
    expect(encodePoint(faults, { speaker: true, microphone: false, power: true, top: true })).toEqual([0x8009]);
    // an LE device stores the same bitmap byte-swapped
    expect(decodePoint(pt({ type: 'bitfield', byteOrder: 'LE', bits: { '0': 'a', '8': 'b' } }), [0x0100])).toEqual({ a: true, b: false });
  });

  it('strings: 2 characters per register, high byte first, NUL-terminated, trailing spaces trimmed', () => {
    const model = pt({ type: 'string', length: 4 });
    expect(decodePoint(model, [0x5357, 0x2d46, 0x4c00, 0x4141])).toBe('SW-FL');
    expect(decodePoint(model, [0x5344, 0x2d33, 0x3030, 0x2020])).toBe('SD-300');
    expect(encodePoint(model, 'SD-300')).toEqual([0x5344, 0x2d33, 0x3030, 0x0000]);
    expect(encodePoint(model, 'TOO-LONG-NAME')).toEqual([0x544f, 0x4f2d, 0x4c4f, 0x4e47]);
    expect(decodePoint(pt({ type: 'string', length: 2, byteOrder: 'LE' }), [0x5753, 0x3149])).toBe('SWI1');
  });

  it('rawFromRegisters is the value before labels and scale', () => {
    expect(rawFromRegisters(pt({ type: 'enum', map: { '1': 'a' } }), [1])).toBe(1);
    expect(rawFromRegisters(pt({ scale: 0.1 }), [123])).toBe(123);
  });
});

describe('decimalsFrom', () => {
  const defs = [pt({ id: 'concentration', decimalsFrom: 'resolution' }), pt({ id: 'resolution', address: 1 })];

  it('divides by 10^(the other point), read in the same sweep', () => {
    const v: Record<string, PointValue> = { concentration: 253, resolution: 1 };
    applyDecimals(defs, v);
    expect(v.concentration).toBe(25.3);
    const w: Record<string, PointValue> = { concentration: 2534, resolution: 3 };
    applyDecimals(defs, w);
    expect(w.concentration).toBe(2.534);
  });

  it('uses the remembered resolution when it was not read this time, and leaves the value alone without one', () => {
    const v: Record<string, PointValue> = { concentration: 253 };
    applyDecimals(defs, v, { resolution: 2 });
    expect(v.concentration).toBe(2.53);
    const w: Record<string, PointValue> = { concentration: 253 };
    applyDecimals(defs, w);
    expect(w.concentration).toBe(253);
    const z: Record<string, PointValue> = { concentration: 253, resolution: 0 };
    applyDecimals(defs, z);
    expect(z.concentration).toBe(253);
  });
});

describe('raw-serial frame points', () => {
  it('a 2-byte bitfield numbers bits across bytes (bit 8 = byte 1 bit 0), as lock boards number locks', () => {
    const locks = fpt({ type: 'bitfield', length: 2, bits: { '0': 'lock1', '2': 'lock3', '8': 'lock9', '15': 'lock16' } });
    expect(frameByteCount(locks)).toBe(2);
    expect(decodeFramePoint(locks, Uint8Array.from([0x05, 0x81]))).toEqual({ lock1: true, lock3: true, lock9: true, lock16: true });
    expect(decodeFramePoint(locks, Uint8Array.from([0x04, 0x00]))).toEqual({ lock1: false, lock3: true, lock9: false, lock16: false });
    const data = Buffer.alloc(2, 0xff);
    encodeFramePoint(locks, { lock1: false, lock3: true, lock9: true, lock16: false }, data);
    expect([...data]).toEqual([0x04, 0x01]);
  });

  it('enum and bool take one byte at their offset; u16 two bytes big-endian; u32 four', () => {
    const door = fpt({ type: 'enum', offset: 1, map: { '1': 'door1', '3': 'door3' } });
    expect(decodeFramePoint(door, Uint8Array.from([0xaa, 3]))).toBe('door3');
    expect(decodeFramePoint(fpt({ type: 'bool', offset: 0, map: { '0': 'closed', '1': 'open' } }), Uint8Array.from([1]))).toBe('open');
    expect(decodeFramePoint(fpt({ type: 'u16', offset: 1 }), Uint8Array.from([9, 0x01, 0x02]))).toBe(258);
    expect(decodeFramePoint(fpt({ type: 'u32' }), Uint8Array.from([0x12, 0x34, 0x56, 0x78]))).toBe(0x12345678);
    expect(decodeFramePoint(fpt({ type: 'u16', mask: 0xff00, shift: 8 }), Uint8Array.from([7, 1]))).toBe(7);
  });

  it('returns undefined when the frame is too short for the point', () => {
    expect(decodeFramePoint(fpt({ type: 'u16', offset: 3 }), Uint8Array.from([1, 2, 3, 4]))).toBeUndefined();
    expect(decodeFramePoint(fpt({ type: 'bitfield', length: 2, offset: 1, bits: { '0': 'a' } }), Uint8Array.from([1]))).toBeUndefined();
  });

  it('strings stop at NUL', () => {
    expect(decodeFramePoint(fpt({ type: 'string', length: 6 }), Buffer.from('WK01\0x', 'latin1'))).toBe('WK01');
  });

  it('encodes into its own bytes only', () => {
    const data = Buffer.from([0xee, 0xee, 0xee]);
    encodeFramePoint(fpt({ type: 'enum', offset: 1, map: { '5': 'five' } }), 'five', data);
    expect([...data]).toEqual([0xee, 5, 0xee]);
  });
});

describe('plausibleDecodings (for `shouwang read`)', () => {
  it('offers both word orders of a pair', () => {
    const all = plausibleDecodings([0x5678, 0x1234]);
    expect(all).toContainEqual({ at: 0, as: 'u32 word LE', value: 0x12345678 });
    expect(all).toContainEqual({ at: 0, as: 'u32 word BE', value: 0x56781234 });
    expect(all).toContainEqual({ at: 1, as: 'i16', value: 0x1234 });
  });
});
