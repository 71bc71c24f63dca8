/**
 * encode∘decode round trips for every point of every shipped profile: the simulator encodes
 * with the same codec the gateway decodes with, so a point that does not survive the trip would
 * make the demo lie. Sample values are generated from each point's own definition (its labels,
 * its flags, raw integers across its range pushed through its scale and offset).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PointValue } from '../../gateway/src/core/types.js';
import { decodeFramePoint, decodePoint, encodeFramePoint, encodePoint, frameByteCount } from '../../gateway/src/profiles/codec.js';
import { loadProfileFile } from '../../gateway/src/profiles/registry.js';
import { isFramePoint, isModbusPoint, registerCount, type PointDef, type Profile } from '../../gateway/src/profiles/schema.js';

const dir = join(import.meta.dirname, '../../device-profiles');
const profiles: Profile[] = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => loadProfileFile(join(dir, f)));

/** Raw integers a point can hold, within the bits its mask/shift/bit leaves it. */
function rawSamples(def: PointDef): number[] {
  switch (def.type) {
    case 'u16':
    case 'i16': {
      const width = def.mask !== undefined ? (def.mask >>> (def.shift ?? 0)).toString(2).length : 16;
      const max = 2 ** width - 1;
      const samples = [0, 1, 2, Math.floor(max / 3), max - 1, max];
      // i16 without a mask is signed: raw 0xffff decodes to -1 and encodes back to 0xffff.
      return [...new Set(samples)];
    }
    case 'u32':
      return [0, 1, 65_535, 65_536, 0x12345678, 0xffffffff];
    case 'i32':
      return [0, 1, -1, -123_456, 0x7fffffff, -0x80000000];
    default:
      return [];
  }
}

function sampleValues(def: PointDef): PointValue[] {
  switch (def.type) {
    case 'bool':
      return def.map ? Object.values(def.map) : [true, false];
    case 'enum':
      return [...Object.values(def.map ?? {}), 'unknown_250'];
    case 'bitfield': {
      const names = Object.values(def.bits ?? {});
      const all = (pick: (i: number) => boolean) => Object.fromEntries(names.map((n, i) => [n, pick(i)]));
      return [all(() => false), all(() => true), all((i) => i % 2 === 0), all((i) => i % 3 === 1)];
    }
    case 'string': {
      const chars = (def.length ?? 1) * (isFramePoint(def) ? 1 : 2);
      return ['', 'A', 'SW-01'.slice(0, chars), 'X'.repeat(chars)];
    }
    case 'f32':
      return [0, 25, -12.5, 3.3999999, 1234.5678].map((v) => Math.fround(v));
    default:
      // Through the point's own transform, so every sample is a value the device can report.
      return rawSamples(def).map((raw) => {
        const v = def.type === 'i16' && def.mask === undefined && raw > 0x7fff ? raw - 0x10000 : raw;
        return def.scale !== undefined || def.offset !== undefined ? Number((v * (def.scale ?? 1) + (def.offset ?? 0)).toPrecision(12)) : v;
      });
  }
}

const allPoints = profiles.flatMap((p) => p.points.map((pt) => ({ profile: p, pt })));

describe('encode∘decode round trip for every shipped point', () => {
  it('covers every point of every profile', () => {
    expect(profiles.length).toBeGreaterThanOrEqual(11);
    for (const { profile, pt } of allPoints) expect(sampleValues(pt).length, `${profile.id}.${pt.id}`).toBeGreaterThan(0);
  });

  it.each(allPoints.map(({ profile, pt }) => [`${profile.id}.${pt.id}`, profile, pt] as const))('%s', (_name, profile, pt) => {
    const defaults = { byteOrder: profile.byteOrder, wordOrder: profile.wordOrder };
    for (const value of sampleValues(pt)) {
      if (isFramePoint(pt)) {
        const data = Buffer.alloc(pt.offset + frameByteCount(pt) + 2, 0);
        encodeFramePoint(pt, value, data);
        expect(decodeFramePoint(pt, data), `${pt.id} = ${JSON.stringify(value)}`).toEqual(value);
        continue;
      }
      const regs = encodePoint(pt, value, defaults);
      const bitTable = isModbusPoint(pt) && (pt.table === 'coil' || pt.table === 'discrete');
      expect(regs).toHaveLength(bitTable ? 1 : registerCount(pt));
      for (const r of regs) expect(r >= 0 && r <= 0xffff, `${pt.id}: register ${r}`).toBe(true);
      expect(decodePoint(pt, regs, defaults), `${pt.id} = ${JSON.stringify(value)} via ${regs.map((r) => r.toString(16))}`).toEqual(value);
      // and the registers are stable: decoding then encoding again gives the same words
      expect(encodePoint(pt, decodePoint(pt, regs, defaults), defaults)).toEqual(regs);
    }
  });
});

describe('frame points at a byte offset (regression: the byte offset is not a value offset)', () => {
  it('u16 and u32 read their own bytes without adding their position', () => {
    const u16 = { id: 'v', frame: 'f', offset: 3, type: 'u16' } as const;
    const u32 = { id: 'w', frame: 'f', offset: 1, type: 'u32' } as const;
    const a = Buffer.alloc(6, 0);
    encodeFramePoint(u16, 258, a);
    expect([...a]).toEqual([0, 0, 0, 0x01, 0x02, 0]);
    const b = Buffer.alloc(6, 0);
    encodeFramePoint(u32, 70_000, b);
    expect([...b]).toEqual([0, 0x00, 0x01, 0x11, 0x70, 0]);
    expect(decodeFramePoint(u16, Uint8Array.from([0, 0, 0, 0x01, 0x02]))).toBe(258);
    expect(decodeFramePoint(u32, Uint8Array.from([0, 0x00, 0x01, 0x11, 0x70]))).toBe(70_000);
  });
});
