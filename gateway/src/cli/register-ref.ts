/**
 * Modbus address notations (pure). Datasheets mix three of them for the same register:
 * the protocol address on the wire (0-based), the register number (1-based), and the Modicon
 * reference with a table prefix (40001 = holding register 0). Showing all of them side by side
 * is the quickest way to spot an off-by-one in a register map.
 */
import type { ModbusTable } from '../profiles/schema.js';

const prefix: Record<ModbusTable, number> = { coil: 0, discrete: 1, input: 3, holding: 4 };

/** Modicon reference: 5 digits (40001-49999) where they fit, 6 digits (400001-465536) beyond. */
export function modiconRef(table: ModbusTable, address0: number): string {
  const n = address0 + 1;
  return n <= 9999 ? `${prefix[table]}${String(n).padStart(4, '0')}` : `${prefix[table]}${String(n).padStart(5, '0')}`;
}

/** Function code name of a read, e.g. `FC03 read holding registers`. */
export function readFunctionName(table: ModbusTable): string {
  switch (table) {
    case 'coil':
      return 'FC01 read coils';
    case 'discrete':
      return 'FC02 read discrete inputs';
    case 'holding':
      return 'FC03 read holding registers';
    case 'input':
      return 'FC04 read input registers';
  }
}
