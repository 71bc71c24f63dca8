/**
 * CRC-16/ARC as SIA DC-09 uses it: polynomial 0x8005 processed reflected (0xA001), initial
 * value 0, no final xor. Check value for ASCII "123456789" is 0xBB3D.
 *
 * The Modbus CRC in protocol/crc16.ts is the same reflected polynomial started from 0xFFFF, so
 * this is that table-driven routine started from 0.
 */
import { crc16Modbus } from '../../protocol/crc16.js';

export function crc16Arc(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc16Modbus(buf, start, end, 0);
}

/** The CRC as DC-09 writes it: four upper-case hex digits. */
export function crcHex(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, '0');
}
