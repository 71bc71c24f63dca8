/**
 * Parsers for CLI option values (pure). Each throws a UsageError that names the option, so
 * `--ids 1-300` says what is wrong and where instead of failing later on the wire.
 */
import { modbusTables, parseDuration, type ModbusTable } from '../profiles/schema.js';
import { UsageError } from './errors.js';

export function parseInteger(value: string, option: string, min: number, max: number): number {
  const s = value.trim();
  const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : /^-?\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isInteger(n)) throw new UsageError(`${option}: expected an integer, got "${value}"`);
  if (n < min || n > max) throw new UsageError(`${option}: expected ${min}-${max}, got ${n}`);
  return n;
}

/**
 * Unit id list: `1-247`, `1-10,15`, `3`. Returns sorted unique ids. Modbus unit ids on a
 * serial line are 1-247 (0 is broadcast, which nobody answers).
 */
export function parseIdRange(value: string, option = '--ids', min = 1, max = 247): number[] {
  const ids = new Set<number>();
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`${option}: empty item in "${value}" (use e.g. 1-10,15)`);
  for (const part of parts) {
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (m) {
      const a = parseInteger(m[1]!, option, min, max);
      const b = parseInteger(m[2]!, option, min, max);
      if (b < a) throw new UsageError(`${option}: range "${part}" goes backwards`);
      for (let i = a; i <= b; i++) ids.add(i);
    } else if (/^\d+$/.test(part)) {
      ids.add(parseInteger(part, option, min, max));
    } else {
      throw new UsageError(`${option}: "${part}" is not an id or a range like 1-10`);
    }
  }
  return [...ids].sort((x, y) => x - y);
}

/** `200ms`, `1.5s`, or a bare number of milliseconds. */
export function parseDurationOption(value: string, option: string, min = 1, max = 60_000): number {
  const s = value.trim();
  let ms: number;
  if (/^\d+$/.test(s)) ms = Number(s);
  else {
    try {
      ms = parseDuration(s);
    } catch {
      throw new UsageError(`${option}: expected a duration like 200ms or 1s, got "${value}"`);
    }
  }
  if (ms < min || ms > max) throw new UsageError(`${option}: expected ${min}-${max} ms, got ${ms} ms`);
  return ms;
}

const tableAliases: Record<string, ModbusTable> = {
  holding: 'holding',
  hr: 'holding',
  '4x': 'holding',
  input: 'input',
  ir: 'input',
  '3x': 'input',
  coil: 'coil',
  coils: 'coil',
  '0x': 'coil',
  discrete: 'discrete',
  di: 'discrete',
  '1x': 'discrete',
};

export function parseTable(value: string, option = '--table'): ModbusTable {
  const t = tableAliases[value.trim().toLowerCase()];
  if (!t) throw new UsageError(`${option}: expected one of ${modbusTables.join(', ')}, got "${value}"`);
  return t;
}

export function parseChoice<T extends string>(value: string, option: string, choices: readonly T[]): T {
  const v = value.trim().toLowerCase();
  const found = choices.find((c) => c === v);
  if (found === undefined) throw new UsageError(`${option}: expected one of ${choices.join(', ')}, got "${value}"`);
  return found;
}
