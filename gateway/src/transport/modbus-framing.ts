/**
 * What differs between Modbus RTU (also over TCP) and Modbus TCP: how a request PDU is wrapped
 * and how its reply is recognised. The bus (lock, silence, timeouts, reopen) is the same.
 */
import { ErrorCodes, ShouwangError } from '../errors.js';
import { exceptionNames } from '../protocol/modbus-pdu.js';
import type { ExchangeHandler } from './bus-channel.js';

/**
 * The whole reply frame as received (RTU: with unit id and CRC; TCP: with MBAP). Its PDU
 * (function code + data) starts at the framing's `pduOffset`: replies are read in place, not
 * sliced, on the polling hot path.
 */
export type ModbusReply = Buffer;

/** A framed request: its bytes, and the handler that recognises its reply (one object per request). */
export interface PreparedRequest extends ExchangeHandler<ModbusReply> {
  readonly adu: Buffer;
  /** Bytes the request and its reply take on a serial line, for the response timeout. */
  readonly wireBytes: number;
}

export interface ModbusFraming {
  /** Where a reply frame's PDU starts: 1 (RTU, after the unit id) or 7 (TCP, after the MBAP header). */
  readonly pduOffset: number;
  /** Bytes that arrived while nothing was pending. */
  onIdle(chunk: Buffer): void;
  onOpened(): void;
  /** Frame a request. The PDU is copied into the ADU and not kept: callers may reuse its buffer. */
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
