/**
 * The tables `shouwang read` prints (pure). A wrong register map is the most common reason a
 * new device "reads garbage", so each register is shown under every address notation and
 * every plausible type: the technician finds the row that matches the display on the device
 * and reads the right address, type and word order off it.
 */
import { decodePoint, plausibleDecodings } from '../profiles/codec.js';
import { isModbusPoint, registerCount, type ModbusTable, type Profile } from '../profiles/schema.js';
import { modiconRef } from './register-ref.js';
import { formatFloat, formatTable, hex16 } from './text.js';

export interface BlockRead {
  table: ModbusTable;
  /** 0-based protocol address of the first value. */
  address: number;
  /** Registers, or 0/1 per bit for coil/discrete. */
  values: readonly number[];
}

/** Two characters per register, high byte first; unprintable bytes as `.`. */
export function registerAscii(r: number): string {
  return [(r >> 8) & 0xff, r & 0xff].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
}

function binary16(r: number): string {
  const s = (r & 0xffff).toString(2).padStart(16, '0');
  return `${s.slice(0, 8)} ${s.slice(8)}`;
}

/** Point ids of a profile that start inside this block, with the value the profile would decode. */
export function profileAnnotations(profile: Profile, block: BlockRead): Map<number, string[]> {
  const notes = new Map<number, string[]>();
  for (const def of profile.points) {
    if (!isModbusPoint(def) || def.table !== block.table) continue;
    const at = def.address - block.address;
    const n = block.table === 'coil' || block.table === 'discrete' ? 1 : registerCount(def);
    if (at < 0 || at + n > block.values.length) continue;
    let shown: string;
    try {
      const v = decodePoint(def, block.values.slice(at, at + n), { byteOrder: profile.byteOrder, wordOrder: profile.wordOrder });
      shown = typeof v === 'object' && v !== null ? Object.entries(v).filter(([, on]) => on).map(([k]) => k).join('|') || '{}' : String(v);
    } catch (err) {
      shown = `(${err instanceof Error ? err.message : String(err)})`;
    }
    const list = notes.get(at) ?? [];
    list.push(`${def.id}=${shown}${def.unit ? ` ${def.unit}` : ''}`);
    notes.set(at, list);
  }
  return notes;
}

/** The per-register table: every address notation, u16/i16, hex, bits and ASCII. */
export function formatRegisterTable(block: BlockRead, notes?: Map<number, string[]>): string {
  const d = plausibleDecodings(block.values);
  const at = (i: number, as: string) => d.find((x) => x.at === i && x.as === as)?.value;
  const rows = block.values.map((r, i) => {
    const a = block.address + i;
    const row = [String(a), String(a + 1), modiconRef(block.table, a), hex16(r), String(at(i, 'u16')), String(at(i, 'i16')), binary16(r), JSON.stringify(registerAscii(r))];
    if (notes) row.push((notes.get(i) ?? []).join(', '));
    return row;
  });
  const headers = ['addr', 'reg#', 'ref', 'hex', 'u16', 'i16', 'bits (15..0)', 'ascii'];
  if (notes) headers.push('profile points');
  return formatTable(headers, rows, { align: ['right', 'right', 'right', 'left', 'right', 'right', 'left', 'left', 'left'] });
}

/**
 * 32-bit readings of each register pair. Word order BE = high word first (ABCD, the Modbus
 * habit); LE = low word first (CDAB, common in meters and PLCs).
 */
export function formatPairTable(block: BlockRead): string {
  if (block.values.length < 2) return '';
  const d = plausibleDecodings(block.values);
  const at = (i: number, as: string) => d.find((x) => x.at === i && x.as === as)?.value ?? Number.NaN;
  const rows: string[][] = [];
  for (let i = 0; i + 1 < block.values.length; i++) {
    const a = block.address + i;
    const row = [
      `${a}-${a + 1}`,
      `${a + 1}-${a + 2}`,
      String(at(i, 'u32 word BE')),
      String(at(i, 'i32 word BE')),
      formatFloat(at(i, 'f32 word BE')),
      String(at(i, 'u32 word LE')),
      String(at(i, 'i32 word LE')),
      formatFloat(at(i, 'f32 word LE')),
    ];
    rows.push(row);
  }
  const headers = ['addr', 'reg#', 'u32 BE', 'i32 BE', 'f32 BE', 'u32 LE', 'i32 LE', 'f32 LE'];
  return formatTable(headers, rows, { align: ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] });
}

/** Coils and discrete inputs: one row per bit. */
export function formatBitTable(block: BlockRead, notes?: Map<number, string[]>): string {
  const rows = block.values.map((v, i) => {
    const a = block.address + i;
    const row = [String(a), String(a + 1), modiconRef(block.table, a), String(v), v ? 'ON' : 'off'];
    if (notes) row.push((notes.get(i) ?? []).join(', '));
    return row;
  });
  const headers = ['addr', 'bit#', 'ref', 'value', ''];
  if (notes) headers.push('profile points');
  return formatTable(headers, rows, { align: ['right', 'right', 'right', 'right', 'left'] });
}

/** The whole block as one string (high byte first), for devices that keep a model name or serial number in registers. */
export function blockAscii(values: readonly number[]): string {
  return values.map(registerAscii).join('');
}

/** Everything `read` prints under the hex dump. */
export function formatDecodings(block: BlockRead, profile?: Profile): string {
  const notes = profile ? profileAnnotations(profile, block) : undefined;
  if (block.table === 'coil' || block.table === 'discrete') return formatBitTable(block, notes);
  const parts = [
    'Registers — addr = 0-based address on the wire, reg# = 1-based register number, ref = Modicon reference',
    formatRegisterTable(block, notes),
  ];
  const pairs = formatPairTable(block);
  if (pairs) {
    parts.push('', '32-bit values starting at each register — BE = high word first (ABCD), LE = low word first (CDAB)', pairs);
  }
  parts.push('', `ASCII (high byte first): ${JSON.stringify(blockAscii(block.values))}`);
  return parts.join('\n');
}
