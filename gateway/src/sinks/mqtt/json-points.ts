/**
 * JSON payload -> point values for MQTT-native devices (PURE). A profile's json points name a
 * dotted path (`status.door`, `sensors[0].t`); the value found there goes through the same
 * transforms as a register value (map labels, bit, mask/shift, scale/offset: codec.ts), so a
 * JSON device and a Modbus device with the same profile points publish the same values.
 *
 * Accepted JSON per point type:
 *   bool      true/false, 0/1 (integer; `bit` applies), or one of its map labels
 *   enum      an integer raw value (mapped) or one of its map labels
 *   bitfield  an integer (bits named by `bits`) or an object of { flag: boolean }
 *   numbers   a finite number (integers get the codec's mask/shift/scale; fractions scale/offset)
 *   string    a string
 * `null` is passed through as null (the device says "no value"). Anything else is a problem.
 */
import type { PointValue } from '../../core/types.js';
import { applyScale, decodePoint } from '../../profiles/codec.js';
import type { JsonPointDef } from '../../profiles/schema.js';

export type JsonDecodeResult = { ok: true; value: PointValue } | { ok: false; problem: string };

const PATH_TOKEN = /([A-Za-z_]\w*)|\[(\d+)\]/g;

/** Path tokens of `a.b[2].c`: ['a', 'b', 2, 'c']. */
export function parseJsonPath(path: string): Array<string | number> {
  const tokens: Array<string | number> = [];
  for (const m of path.matchAll(PATH_TOKEN)) tokens.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return tokens;
}

/** The value at a path, or undefined when any step is missing. */
export function valueAtPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const token of parseJsonPath(path)) {
    if (typeof token === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[token];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, token)) return undefined;
      cur = (cur as Record<string, unknown>)[token];
    }
  }
  return cur;
}

function describe(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'an array';
  if (typeof raw === 'string') return `"${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}"`;
  if (typeof raw === 'object') return 'an object';
  return `${typeof raw} ${String(raw)}`;
}

function labels(def: JsonPointDef): string[] {
  return Object.values(def.map ?? {});
}

/** Registers (big-endian words) holding a 32-bit integer, for the codec. */
function words32(n: number): number[] {
  const u = n >>> 0;
  return [(u >>> 16) & 0xffff, u & 0xffff];
}

const plain = (def: JsonPointDef): JsonPointDef => ({ ...def, byteOrder: 'BE', wordOrder: 'BE' });

export function decodeJsonPoint(def: JsonPointDef, raw: unknown): JsonDecodeResult {
  if (raw === null) return { ok: true, value: null };
  const bad = (expected: string): JsonDecodeResult => ({ ok: false, problem: `expected ${expected}, got ${describe(raw)}` });
  switch (def.type) {
    case 'bool': {
      if (typeof raw === 'boolean') return { ok: true, value: decodePoint(plain({ ...def, bit: undefined }), [raw ? 1 : 0]) };
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0xffff) return { ok: true, value: decodePoint(plain(def), [raw]) };
      if (typeof raw === 'string' && labels(def).includes(raw)) return { ok: true, value: raw };
      return bad(`true/false, 0/1${labels(def).length ? ` or one of ${labels(def).join('/')}` : ''}`);
    }
    case 'enum': {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0xffff) return { ok: true, value: decodePoint(plain(def), [raw]) };
      if (typeof raw === 'string' && labels(def).includes(raw)) return { ok: true, value: raw };
      return bad(`an integer or one of ${labels(def).join('/')}`);
    }
    case 'bitfield': {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0xffff) return { ok: true, value: decodePoint(plain(def), [raw]) };
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        const flags: Record<string, boolean> = {};
        for (const name of Object.values(def.bits ?? {})) {
          const v = (raw as Record<string, unknown>)[name];
          if (v === undefined) flags[name] = false;
          else if (typeof v === 'boolean') flags[name] = v;
          else return { ok: false, problem: `flag "${name}": expected true/false, got ${describe(v)}` };
        }
        return { ok: true, value: flags };
      }
      return bad('an integer bitmap or an object of flags');
    }
    case 'string':
      return typeof raw === 'string' ? { ok: true, value: raw } : bad('a string');
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32':
    case 'f32': {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return bad('a number');
      if (Number.isInteger(raw)) {
        if (def.type === 'u16' && raw >= 0 && raw <= 0xffff) return { ok: true, value: decodePoint(plain(def), [raw]) };
        if (def.type === 'i16' && raw >= -0x8000 && raw <= 0x7fff) return { ok: true, value: decodePoint(plain(def), [raw & 0xffff]) };
        if (def.type === 'u32' && raw >= 0 && raw <= 0xffffffff) return { ok: true, value: decodePoint(plain(def), words32(raw)) };
        if (def.type === 'i32' && raw >= -0x80000000 && raw <= 0x7fffffff) return { ok: true, value: decodePoint(plain(def), words32(raw)) };
        if (def.type !== 'f32') return { ok: false, problem: `${raw} is out of range for ${def.type}` };
      }
      // Fractions (a JSON device sends engineering values) and f32: scale/offset only.
      return { ok: true, value: applyScale(def, raw) };
    }
  }
}
