/**
 * What a Modbus slave answers to one request PDU, against a device's register image. Pure apart
 * from the image it mutates: shared by the RTU bus and the Modbus TCP server so both behave
 * alike, including exceptions (illegal function / address / value) as a real device sends them.
 */
import { FC } from '../../gateway/src/protocol/modbus-pdu.js';
import { ModbusException, ModbusExceptionCode, type SimDevice } from './device-model.js';

export interface SlaveAnswer {
  /** Reply PDU (function code + data); for an exception, `fc | 0x80` and the code. */
  pdu: Buffer;
  /** Exception code sent, if any. */
  exception: number | undefined;
}

const readTable = {
  [FC.readCoils]: 'coil',
  [FC.readDiscrete]: 'discrete',
  [FC.readHolding]: 'holding',
  [FC.readInput]: 'input',
} as const;

export function exceptionPdu(fc: number, code: number): Buffer {
  return Buffer.from([(fc | 0x80) & 0xff, code]);
}

/** Answer one request PDU. `tsEpoch` stamps writes with the request's arrival time. */
export function answerPdu(device: SimDevice, pdu: Uint8Array, tsEpoch: number): SlaveAnswer {
  const fc = pdu[0] ?? 0;
  try {
    return { pdu: execute(device, pdu, tsEpoch), exception: undefined };
  } catch (err) {
    const code = err instanceof ModbusException ? err.exceptionCode : ModbusExceptionCode.deviceFailure;
    return { pdu: exceptionPdu(fc, code), exception: code };
  }
}

/** A broadcast (unit 0): writes are executed, nothing is answered, reads are ignored. */
export function executeBroadcast(device: SimDevice, pdu: Uint8Array, tsEpoch: number): void {
  const fc = pdu[0] ?? 0;
  if (fc !== FC.writeCoil && fc !== FC.writeRegister && fc !== FC.writeCoils && fc !== FC.writeRegisters) return;
  try {
    execute(device, pdu, tsEpoch);
  } catch {
    // No reply to a broadcast, so nothing to report either.
  }
}

function execute(device: SimDevice, pdu: Uint8Array, tsEpoch: number): Buffer {
  const fc = pdu[0] ?? 0;
  const u16 = (i: number) => (((pdu[i] ?? 0) << 8) | (pdu[i + 1] ?? 0)) >>> 0;
  const illegalValue = (why: string) => new ModbusException(ModbusExceptionCode.illegalValue, why);
  switch (fc) {
    case FC.readCoils:
    case FC.readDiscrete: {
      if (pdu.length !== 5) throw illegalValue('bad read length');
      const count = u16(3);
      const bits = device.read(readTable[fc], u16(1), count);
      const bytes = Math.ceil(count / 8);
      const out = Buffer.alloc(2 + bytes);
      out[0] = fc;
      out[1] = bytes;
      bits.forEach((b, i) => {
        if (b) out[2 + (i >> 3)]! |= 1 << (i & 7);
      });
      return out;
    }
    case FC.readHolding:
    case FC.readInput: {
      if (pdu.length !== 5) throw illegalValue('bad read length');
      const count = u16(3);
      const regs = device.read(readTable[fc], u16(1), count);
      const out = Buffer.alloc(2 + count * 2);
      out[0] = fc;
      out[1] = count * 2;
      regs.forEach((r, i) => out.writeUInt16BE(r, 2 + i * 2));
      return out;
    }
    case FC.writeCoil: {
      if (pdu.length !== 5) throw illegalValue('bad write length');
      const v = u16(3);
      if (v !== 0xff00 && v !== 0x0000) throw illegalValue('coil value must be FF00 or 0000');
      device.write('coil', u16(1), [v === 0xff00 ? 1 : 0], fc, tsEpoch);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case FC.writeRegister: {
      if (pdu.length !== 5) throw illegalValue('bad write length');
      device.write('holding', u16(1), [u16(3)], fc, tsEpoch);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case FC.writeCoils: {
      const count = u16(3);
      const bytes = pdu[5] ?? 0;
      if (count < 1 || count > 1968 || bytes !== Math.ceil(count / 8) || pdu.length !== 6 + bytes) throw illegalValue('bad coil count / byte count');
      const values: number[] = [];
      for (let i = 0; i < count; i++) values.push(((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1);
      device.write('coil', u16(1), values, fc, tsEpoch);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case FC.writeRegisters: {
      const count = u16(3);
      const bytes = pdu[5] ?? 0;
      if (count < 1 || count > 123 || bytes !== count * 2 || pdu.length !== 6 + bytes) throw illegalValue('bad register count / byte count');
      const values: number[] = [];
      for (let i = 0; i < count; i++) values.push(u16(6 + i * 2));
      device.write('holding', u16(1), values, fc, tsEpoch);
      return Buffer.from(pdu.subarray(0, 5));
    }
    default:
      throw new ModbusException(ModbusExceptionCode.illegalFunction, `function 0x${fc.toString(16)} not supported`);
  }
}
