/**
 * What differs between Modbus RTU (also over TCP) and Modbus TCP: how a request PDU is wrapped
 * and how its reply is recognised. The bus (lock, silence, timeouts, reopen) is the same.
 */
import { ErrorCodes, ShouwangError } from '../errors.js';
import { exceptionNames } from '../protocol/modbus-pdu.js';
import type { ExchangeHandler } from './bus-channel.js';

export interface ModbusReply {
  /** The reply PDU (function code + data). */
  pdu: Buffer;
  /** The whole reply as received (RTU: with CRC; TCP: with MBAP). */
  response: Buffer;
}

export interface PreparedRequest {
  adu: Buffer;
  handler: ExchangeHandler<ModbusReply>;
  /** Bytes the request and its reply take on a serial line, for the response timeout. */
  wireBytes: number;
}

export interface ModbusFraming {
  /** Bytes that arrived while nothing was pending. */
  onIdle(chunk: Buffer): void;
  onOpened(): void;
  prepare(unitId: number, pdu: Buffer): PreparedRequest;
}

export interface FramingContext {
  busId: string;
  /** Garbage, late and foreign frames are added here. */
  countFrameError(): void;
}

export function hex(buf: Uint8Array): string {
  return Buffer.from(buf).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

export function exceptionError(busId: string, unitId: number, functionCode: number, exceptionCode: number, request: Uint8Array, response: Uint8Array): ShouwangError {
  const name = exceptionNames[exceptionCode] ?? `exception ${exceptionCode}`;
  return new ShouwangError(
    ErrorCodes.MODBUS_EXCEPTION,
    `bus ${busId}: unit ${unitId} answered FC${functionCode.toString().padStart(2, '0')} with ${name} (exception ${exceptionCode})`,
    { details: { bus: busId, unitId, functionCode, exceptionCode, exception: name, request: hex(request), response: hex(response) } },
  );
}

export function timeoutError(busId: string, unitId: number, functionCode: number, timeoutMs: number, request: Uint8Array, received: Uint8Array): ShouwangError {
  const partial = received.length > 0 ? ` (received only: ${hex(received)})` : '';
  return new ShouwangError(
    ErrorCodes.TRANSPORT_TIMEOUT,
    `bus ${busId}: no reply from unit ${unitId} to FC${functionCode.toString().padStart(2, '0')} within ${Math.round(timeoutMs)} ms${partial}`,
    { details: { bus: busId, unitId, functionCode, timeoutMs, request: hex(request), received: hex(received) } },
  );
}
