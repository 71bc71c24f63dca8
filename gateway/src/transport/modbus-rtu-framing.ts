/**
 * Modbus RTU framing, for a serial line or RTU frames tunnelled over TCP (serial device servers,
 * DTUs). Bytes that arrive while nothing is pending are thrown away; the receive buffer starts
 * empty with each request, and the reply is searched for by unit, function code, shape and CRC,
 * so garbage and late replies are never taken for the current one.
 */
import { ErrorCodes, ShouwangError } from '../errors.js';
import { appendCrc } from '../protocol/crc16.js';
import type { Step } from './bus-channel.js';
import { exceptionError, hex, timeoutError, type FramingContext, type ModbusFraming, type ModbusReply } from './modbus-framing.js';
import { rtuReplyLength, scanRtuReply } from './rtu-reply.js';

/** A runaway stream (noise, wrong baud) cannot grow the receive buffer past this. */
const MAX_RX_BYTES = 1024;

export function rtuFraming(ctx: FramingContext, silenceMs: number): ModbusFraming {
  /** A CRC-bad frame may be garbage in front of the real reply: wait this long for more bytes before calling it. */
  const crcSettleMs = Math.max(5, 2 * silenceMs);
  return {
    pduOffset: 1,
    onIdle() {
      // A late reply or noise: discard it. Counted per chunk received (a late reply is usually one).
      ctx.countFrameError();
    },
    onOpened() {},
    prepare(unitId, requestPdu) {
      const adu = appendCrc(Buffer.concat([Buffer.from([unitId]), requestPdu]));
      // The request PDU as sent, inside our own ADU (the caller may reuse its buffer).
      const pdu = adu.subarray(1, adu.length - 2);
      const fc = pdu[0]!;
      let rx: Buffer = Buffer.alloc(0);
      return {
        adu,
        wireBytes: adu.length + rtuReplyLength(pdu),
        onData(chunk): Step<ModbusReply> | undefined {
          rx = rx.length === 0 ? chunk : Buffer.concat([rx, chunk]);
          if (rx.length > MAX_RX_BYTES) rx = rx.subarray(rx.length - MAX_RX_BYTES);
          const scan = scanRtuReply(rx, unitId, pdu);
          switch (scan.kind) {
            case 'incomplete':
              return undefined;
            case 'reply':
              if (scan.start > 0) ctx.countFrameError();
              return { value: scan.frame };
            case 'exception':
              if (scan.start > 0) ctx.countFrameError();
              return { error: exceptionError(ctx.busId, unitId, fc, scan.exceptionCode, adu, scan.frame) };
            case 'crc':
              return {
                settleMs: crcSettleMs,
                error: new ShouwangError(
                  ErrorCodes.TRANSPORT_CRC,
                  `bus ${ctx.busId}: CRC error in reply from unit ${unitId} to FC${fc.toString().padStart(2, '0')}: ${hex(scan.frame)}`,
                  { details: { bus: ctx.busId, unitId, functionCode: fc, request: hex(adu), response: hex(scan.frame) } },
                ),
              };
          }
        },
        onTimeout(timeoutMs) {
          return timeoutError(ctx.busId, unitId, fc, timeoutMs, adu, rx);
        },
      };
    },
  };
}
