/**
 * Modbus PDU helpers (pure): function codes per table, request building, and the expected
 * length of a reply, which is how an RTU receiver finds the end of a frame.
 */
import type { ModbusTable } from '../profiles/schema.js';

export const FC = {
  readCoils: 0x01,
  readDiscrete: 0x02,
  readHolding: 0x03,
  readInput: 0x04,
  writeCoil: 0x05,
  writeRegister: 0x06,
  writeCoils: 0x0f,
  writeRegisters: 0x10,
} as const;

export const readFunctionFor: Record<ModbusTable, number> = {
  coil: FC.readCoils,
  discrete: FC.readDiscrete,
  holding: FC.readHolding,
  input: FC.readInput,
};

export function isBitTable(t: ModbusTable): boolean {
  return t === 'coil' || t === 'discrete';
}

/** PDU (function code + data) of a read request. */
export function readRequestPdu(table: ModbusTable, address: number, count: number): Buffer {
  const pdu = Buffer.alloc(5);
  pdu[0] = readFunctionFor[table];
  pdu.writeUInt16BE(address, 1);
  pdu.writeUInt16BE(count, 3);
  return pdu;
}

/** PDU of a write request; one value uses FC05/FC06, several FC15/FC16. */
export function writeRequestPdu(table: 'coil' | 'holding', address: number, values: readonly number[]): Buffer {
  if (values.length === 1) {
    const pdu = Buffer.alloc(5);
    pdu[0] = table === 'coil' ? FC.writeCoil : FC.writeRegister;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(table === 'coil' ? (values[0] ? 0xff00 : 0) : values[0]! & 0xffff, 3);
    return pdu;
  }
  if (table === 'coil') {
    const bytes = Math.ceil(values.length / 8);
    const pdu = Buffer.alloc(6 + bytes);
    pdu[0] = FC.writeCoils;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(values.length, 3);
    pdu[5] = bytes;
    values.forEach((v, i) => {
      if (v) pdu[6 + (i >> 3)]! |= 1 << (i & 7);
    });
    return pdu;
  }
  const pdu = Buffer.alloc(6 + values.length * 2);
  pdu[0] = FC.writeRegisters;
  pdu.writeUInt16BE(address, 1);
  pdu.writeUInt16BE(values.length, 3);
  pdu[5] = values.length * 2;
  values.forEach((v, i) => pdu.writeUInt16BE(v & 0xffff, 6 + i * 2));
  return pdu;
}

/** Length of a normal (non-exception) reply PDU to a request PDU. */
export function expectedReplyPduLength(requestPdu: Uint8Array): number {
  const fc = requestPdu[0]!;
  const count = ((requestPdu[3] ?? 0) << 8) | (requestPdu[4] ?? 0);
  switch (fc) {
    case FC.readCoils:
    case FC.readDiscrete:
      return 2 + Math.ceil(count / 8);
    case FC.readHolding:
    case FC.readInput:
      return 2 + count * 2;
    case FC.writeCoil:
    case FC.writeRegister:
    case FC.writeCoils:
    case FC.writeRegisters:
      return 5;
    default:
      throw new Error(`unsupported function code 0x${fc.toString(16)}`);
  }
}

/** Length of a request PDU, found from its first bytes (for slaves reading a byte stream); undefined if not yet known. */
export function requestPduLength(pdu: Uint8Array): number | undefined {
  const fc = pdu[0];
  if (fc === undefined) return undefined;
  switch (fc) {
    case FC.readCoils:
    case FC.readDiscrete:
    case FC.readHolding:
    case FC.readInput:
    case FC.writeCoil:
    case FC.writeRegister:
      return 5;
    case FC.writeCoils:
    case FC.writeRegisters:
      return pdu.length >= 6 ? 6 + pdu[5]! : undefined;
    default:
      return undefined;
  }
}

/** Values from a read reply PDU. */
export function parseReadReply(table: ModbusTable, count: number, pdu: Uint8Array): number[] {
  const out: number[] = [];
  if (isBitTable(table)) {
    for (let i = 0; i < count; i++) out.push((pdu[2 + (i >> 3)]! >> (i & 7)) & 1);
  } else {
    for (let i = 0; i < count; i++) out.push((pdu[2 + i * 2]! << 8) | pdu[3 + i * 2]!);
  }
  return out;
}

export const exceptionNames: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'slave device failure',
  5: 'acknowledge',
  6: 'slave device busy',
  10: 'gateway path unavailable',
  11: 'gateway target failed to respond',
};
