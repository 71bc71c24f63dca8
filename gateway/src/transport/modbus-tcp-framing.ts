/**
 * Modbus TCP framing (MBAP). The transaction id tells a late reply from the current one; frames
 * with another id are dropped. One request in flight per connection all the same: many
 * TCP-to-RS485 gateways serve only one, and the polling layer expects a bus to be a queue.
 */
import { ErrorCodes, ShouwangError } from '../errors.js';
import { expectedReplyPduLength } from '../protocol/modbus-pdu.js';
import type { Step } from './bus-channel.js';
import { MbapReader, encodeMbap, type MbapFrame } from './mbap.js';
import { exceptionError, hex, timeoutError, type FramingContext, type ModbusFraming, type ModbusReply } from './modbus-framing.js';

export function mbapFraming(ctx: FramingContext): ModbusFraming {
  const reader = new MbapReader();
  let nextTransactionId = 1;
  let desyncsSeen = 0;
  const read = (chunk: Buffer): MbapFrame[] => {
    const frames = reader.push(chunk);
    if (reader.desyncs !== desyncsSeen) {
      desyncsSeen = reader.desyncs;
      ctx.countFrameError();
    }
    return frames;
  };
  return {
    onIdle(chunk) {
      for (const _late of read(chunk)) ctx.countFrameError();
    },
    onOpened() {
      reader.reset();
    },
    prepare(unitId, pdu) {
      const tid = nextTransactionId;
      nextTransactionId = (nextTransactionId % 0xffff) + 1;
      const adu = encodeMbap(tid, unitId, pdu);
      const fc = pdu[0]!;
      const received: Buffer[] = [];
      const frameError = (frame: MbapFrame, why: string) =>
        new ShouwangError(ErrorCodes.TRANSPORT_FRAME, `bus ${ctx.busId}: bad reply from unit ${unitId} to FC${fc}: ${why}: ${hex(frame.raw)}`, {
          details: { bus: ctx.busId, unitId, functionCode: fc, request: hex(adu), response: hex(frame.raw) },
        });
      return {
        adu,
        wireBytes: 0,
        handler: {
          onData(chunk): Step<ModbusReply> | undefined {
            received.push(chunk);
            let step: Step<ModbusReply> | undefined;
            for (const frame of read(chunk)) {
              if (step || frame.transactionId !== tid) {
                ctx.countFrameError(); // a late reply to an earlier (timed-out) request, or junk after ours
                continue;
              }
              const code = frame.pdu[0];
              if (frame.unitId !== unitId) step = { error: frameError(frame, `unit id ${frame.unitId}`) };
              else if (code === (fc | 0x80) && frame.pdu.length >= 2) step = { error: exceptionError(ctx.busId, unitId, fc, frame.pdu[1]!, adu, frame.raw) };
              else if (code !== fc) step = { error: frameError(frame, `function code ${code}`) };
              else if (frame.pdu.length !== expectedReplyPduLength(pdu)) step = { error: frameError(frame, `PDU length ${frame.pdu.length}`) };
              else if (fc <= 4 && frame.pdu[1] !== frame.pdu.length - 2) step = { error: frameError(frame, `byte count ${frame.pdu[1]}`) };
              else if (fc > 4 && !frame.pdu.subarray(1, 5).equals(pdu.subarray(1, 5))) step = { error: frameError(frame, 'write echo differs') };
              else step = { value: { pdu: frame.pdu, response: frame.raw } };
            }
            return step;
          },
          onTimeout(timeoutMs) {
            return timeoutError(ctx.busId, unitId, fc, timeoutMs, adu, Buffer.concat(received));
          },
        },
      };
    },
  };
}
