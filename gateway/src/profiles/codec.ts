/**
 * Register <-> value codec. PURE: no I/O. All value transforms (mask, shift, bit, scale,
 * offset, byte/word order, enum labels, bitfields, strings) live here and only here, so the
 * gateway's decoder and the simulator's encoder cannot drift apart.
 */
import type { PointValue } from '../core/types.js';
import type { ByteOrder, PointDef } from './schema.js';
import { registerCount } from './schema.js';

export interface CodecDefaults {
  byteOrder: ByteOrder;
  wordOrder: ByteOrder;
}

const DEFAULTS: CodecDefaults = { byteOrder: 'BE', wordOrder: 'BE' };

function swapBytes(r: number): number {
  return ((r & 0xff) << 8) | ((r >> 8) & 0xff);
}

/** Scratch for 32-bit decodes: decoding is synchronous, so one buffer serves every call. */
const scratch32 = Buffer.alloc(4);

/** Registers (as read off the wire, starting at `at`) -> 32-bit big-endian bytes honouring byte and word order, in a shared scratch buffer. */
function toBytes32(regs: readonly number[], byteOrder: ByteOrder, wordOrder: ByteOrder, at = 0): Buffer {
  let a = regs[at] ?? 0;
  let b = regs[at + 1] ?? 0;
  if (byteOrder === 'LE') {
    a = swapBytes(a);
    b = swapBytes(b);
  }
  if (wordOrder === 'LE') {
    const t = a;
    a = b;
    b = t;
  }
  scratch32.writeUInt16BE(a & 0xffff, 0);
  scratch32.writeUInt16BE(b & 0xffff, 2);
  return scratch32;
}

function fromBytes32(buf: Buffer, byteOrder: ByteOrder, wordOrder: ByteOrder): number[] {
  let a = buf.readUInt16BE(0);
  let b = buf.readUInt16BE(2);
  if (wordOrder === 'LE') [a, b] = [b, a];
  if (byteOrder === 'LE') [a, b] = [swapBytes(a), swapBytes(b)];
  return [a, b];
}

/**
 * Raw integer (before scale/offset/labels) from registers. `at` is where the point's registers
 * start in `regs` (a whole block's reply can be decoded in place, without a copy per point).
 */
export function rawFromRegisters(def: PointDef, regs: readonly number[], defaults: CodecDefaults = DEFAULTS, at = 0): number | string {
  const byteOrder = def.byteOrder ?? defaults.byteOrder;
  const wordOrder = def.wordOrder ?? defaults.wordOrder;
  const r0 = regs[at] ?? 0;
  switch (def.type) {
    case 'u32':
      return toBytes32(regs, byteOrder, wordOrder, at).readUInt32BE(0);
    case 'i32':
      return toBytes32(regs, byteOrder, wordOrder, at).readInt32BE(0);
    case 'f32':
      return toBytes32(regs, byteOrder, wordOrder, at).readFloatBE(0);
    case 'string': {
      const n = registerCount(def);
      const buf = Buffer.alloc(n * 2);
      for (let i = 0; i < n; i++) {
        const r = regs[at + i] ?? 0;
        buf.writeUInt16BE(byteOrder === 'LE' ? swapBytes(r) : r, i * 2);
      }
      const end = buf.indexOf(0);
      return buf.subarray(0, end === -1 ? buf.length : end).toString('latin1').trimEnd();
    }
    default: {
      let v = byteOrder === 'LE' ? swapBytes(r0) : r0;
      if (def.mask !== undefined) v &= def.mask;
      if (def.shift !== undefined) v >>>= def.shift;
      if (def.type === 'i16' && def.mask === undefined && v > 0x7fff) v -= 0x10000;
      return v;
    }
  }
}

/** Scale and offset a raw number (exported for the MQTT JSON intake, which shares these semantics). */
export function applyScale(def: PointDef, raw: number): number {
  const scaled = raw * (def.scale ?? 1) + (def.offset ?? 0);
  // Keep decimal noise out of published values: 0.1 * 123 must read 12.3, not 12.300000000000001.
  return def.scale !== undefined || def.offset !== undefined ? Number(scaled.toPrecision(12)) : scaled;
}

/** Decode a point from its registers (holding/input) or bits (coil/discrete: 0/1 per element), starting at `at`. */
export function decodePoint(def: PointDef, regs: readonly number[], defaults: CodecDefaults = DEFAULTS, at = 0): PointValue {
  const raw = rawFromRegisters(def, regs, defaults, at);
  if (typeof raw === 'string') return raw;
  switch (def.type) {
    case 'bool': {
      const bitValue = def.bit !== undefined ? (raw >> def.bit) & 1 : raw !== 0 ? 1 : 0;
      if (def.map) return def.map[String(bitValue)] ?? bitValue === 1;
      return bitValue === 1;
    }
    case 'enum':
      return def.map?.[String(raw)] ?? `unknown_${raw}`;
    case 'bitfield': {
      const flags: Record<string, boolean> = {};
      for (const [bit, name] of Object.entries(def.bits ?? {})) flags[name] = ((raw >>> Number(bit)) & 1) === 1;
      return flags;
    }
    case 'f32':
      return Number.isFinite(raw) ? applyScale(def, raw) : null;
    default:
      return applyScale(def, raw);
  }
}

/** Inverse of decodePoint: the registers a device would hold for this value (used by the simulator and writes). */
export function encodePoint(def: PointDef, value: PointValue, defaults: CodecDefaults = DEFAULTS): number[] {
  const byteOrder = def.byteOrder ?? defaults.byteOrder;
  const wordOrder = def.wordOrder ?? defaults.wordOrder;
  const order16 = (v: number) => (byteOrder === 'LE' ? swapBytes(v & 0xffff) : v & 0xffff);
  const unscale = (v: number) => Math.round((v - (def.offset ?? 0)) / (def.scale ?? 1));
  const unmask = (v: number) => (def.shift !== undefined ? v << def.shift : v) & (def.mask ?? 0xffff);
  switch (def.type) {
    case 'bool': {
      let bit: number;
      if (typeof value === 'boolean') bit = value ? 1 : 0;
      else if (typeof value === 'number') bit = value ? 1 : 0;
      else bit = Number(labelToRaw(def, String(value)));
      return [order16(def.bit !== undefined ? bit << def.bit : bit)];
    }
    case 'enum':
      return [order16(unmask(typeof value === 'number' ? value : labelToRaw(def, String(value))))];
    case 'bitfield': {
      let raw = 0;
      const flags = (value ?? {}) as Record<string, boolean>;
      for (const [bit, name] of Object.entries(def.bits ?? {})) if (flags[name]) raw |= 1 << Number(bit);
      return [order16(raw)];
    }
    case 'u16':
    case 'i16':
      return [order16(unmask(unscale(Number(value))))];
    case 'u32':
    case 'i32':
    case 'f32': {
      const buf = Buffer.alloc(4);
      if (def.type === 'f32') buf.writeFloatBE((Number(value) - (def.offset ?? 0)) / (def.scale ?? 1), 0);
      else if (def.type === 'u32') buf.writeUInt32BE(unscale(Number(value)) >>> 0, 0);
      else buf.writeInt32BE(unscale(Number(value)) | 0, 0);
      return fromBytes32(buf, byteOrder, wordOrder);
    }
    case 'string': {
      const n = registerCount(def);
      const buf = Buffer.alloc(n * 2);
      buf.write(String(value ?? ''), 0, n * 2, 'latin1');
      const regs: number[] = [];
      for (let i = 0; i < n; i++) regs.push(order16(buf.readUInt16BE(i * 2)));
      return regs;
    }
  }
}

function labelToRaw(def: PointDef, label: string): number {
  for (const [raw, l] of Object.entries(def.map ?? {})) if (l === label) return Number(raw);
  if (/^-?\d+$/.test(label)) return Number(label);
  // decodePoint reads a value missing from the map as `unknown_<raw>`; encode it back.
  const unknown = /^unknown_(-?\d+)$/.exec(label);
  if (unknown) return Number(unknown[1]);
  if (label === 'true') return 1;
  if (label === 'false') return 0;
  throw new Error(`point ${def.id}: no raw value for label "${label}"`);
}

/** Every plausible reading of raw registers, for `shouwang read` (register-map mistakes are common). */
export function plausibleDecodings(regs: readonly number[]): Array<{ at: number; as: string; value: number }> {
  const out: Array<{ at: number; as: string; value: number }> = [];
  for (let i = 0; i < regs.length; i++) {
    const r = regs[i] ?? 0;
    out.push({ at: i, as: 'u16', value: r }, { at: i, as: 'i16', value: r > 0x7fff ? r - 0x10000 : r });
    if (i + 1 < regs.length) {
      const pair = [r, regs[i + 1] ?? 0];
      for (const wo of ['BE', 'LE'] as const) {
        const b = toBytes32(pair, 'BE', wo);
        out.push(
          { at: i, as: `u32 word ${wo}`, value: b.readUInt32BE(0) },
          { at: i, as: `i32 word ${wo}`, value: b.readInt32BE(0) },
          { at: i, as: `f32 word ${wo}`, value: b.readFloatBE(0) },
        );
      }
    }
  }
  return out;
}

/**
 * Second pass after decoding a read: points with `decimalsFrom` are divided by 10^n, where n is
 * the current value of the named point (read in the same sweep or remembered from before).
 */
export function applyDecimals(
  defs: readonly PointDef[],
  values: Record<string, PointValue>,
  previous: Readonly<Record<string, PointValue>> = {},
): void {
  for (const def of defs) {
    if (def.decimalsFrom === undefined || !(def.id in values)) continue;
    const v = values[def.id];
    const decimals = values[def.decimalsFrom] ?? previous[def.decimalsFrom];
    if (typeof v !== 'number' || typeof decimals !== 'number') continue;
    values[def.id] = Number((v / 10 ** decimals).toPrecision(12));
  }
}

/**
 * Bytes a raw-serial frame point occupies at its offset: bool/enum/bitfield take `length`
 * bytes (default 1; a bitfield of n bytes numbers bit 0 = byte 0 bit 0, bit 8 = byte 1 bit 0,
 * as lock boards number their locks), 16-bit types 2, 32-bit types 4, strings `length`.
 */
export function frameByteCount(def: PointDef): number {
  switch (def.type) {
    case 'bool':
    case 'enum':
    case 'bitfield':
      return def.length ?? 1;
    case 'u16':
    case 'i16':
      return 2;
    case 'u32':
    case 'i32':
    case 'f32':
      return 4;
    case 'string':
      return def.length ?? 1;
  }
}

/**
 * A frame point's `offset` is its byte position in the frame, not the value offset of
 * `scale`/`offset`: the transforms must not see it, or a u16 at byte 1 would read 1 too high.
 */
function withoutByteOffset(def: PointDef & { offset: number }): PointDef {
  const { offset: _byteOffset, ...valueDef } = def;
  return valueDef as PointDef;
}

/** Decode a frame point from a frame's data bytes; undefined when the data is too short. */
export function decodeFramePoint(def: PointDef & { offset: number }, data: Uint8Array): PointValue | undefined {
  const n = frameByteCount(def);
  if (def.offset + n > data.length) return undefined;
  const bytes = Buffer.from(data.subarray(def.offset, def.offset + n));
  if (def.type === 'string') return bytes.toString('latin1').replace(/\0.*$/s, '').trimEnd();
  if (def.type === 'bitfield') {
    const flags: Record<string, boolean> = {};
    for (const [bit, name] of Object.entries(def.bits ?? {})) {
      const b = Number(bit);
      flags[name] = (((bytes[b >> 3] ?? 0) >> (b & 7)) & 1) === 1;
    }
    return flags;
  }
  const valueDef = withoutByteOffset(def);
  if (n === 4) return decodePoint(valueDef, [bytes.readUInt16BE(0), bytes.readUInt16BE(2)]);
  // 1- or 2-byte integers: big-endian into one "register", then the common decoder.
  const raw = n === 1 ? bytes[0]! : bytes.readUInt16BE(0);
  return decodePoint({ ...valueDef, byteOrder: 'BE' }, [raw]);
}

/** Inverse of decodeFramePoint: write the value's bytes into `data` at the point's offset. */
export function encodeFramePoint(def: PointDef & { offset: number }, value: PointValue, data: Buffer): void {
  const n = frameByteCount(def);
  if (def.type === 'bitfield') {
    const flags = (value ?? {}) as Record<string, boolean>;
    for (let i = 0; i < n; i++) data[def.offset + i] = 0;
    for (const [bit, name] of Object.entries(def.bits ?? {})) {
      const b = Number(bit);
      if (flags[name]) data[def.offset + (b >> 3)]! |= 1 << (b & 7);
    }
    return;
  }
  if (def.type === 'string') {
    data.fill(0, def.offset, def.offset + n);
    data.write(String(value ?? ''), def.offset, n, 'latin1');
    return;
  }
  const regs = encodePoint({ ...withoutByteOffset(def), byteOrder: 'BE' }, value);
  if (n === 4) {
    data.writeUInt16BE(regs[0]!, def.offset);
    data.writeUInt16BE(regs[1]!, def.offset + 2);
  } else if (n === 1) data[def.offset] = regs[0]! & 0xff;
  else data.writeUInt16BE(regs[0]!, def.offset);
}
