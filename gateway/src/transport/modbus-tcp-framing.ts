/**
 * Modbus TCP framing (MBAP). The transaction id tells a late reply from the current one; frames
 * with another id are dropped. One request in flight per connection all the same: many
 * TCP-to-RS485 gateways serve only one, and the polling layer expects a bus to be a queue.
 *
 * Each request's reply handler is one small object (no closures), and the usual reply (one
 * whole frame in one chunk) is taken as it is, without copies: this runs thousands of times a
 * second on a gateway with hundreds of Modbus TCP devices.
 */
import { ErrorCodes, ShouwangError } from '../errors.js';
import { expectedReplyPduLength } from '../protocol/modbus-pdu.js';
import type { Step } from './bus-channel.js';
import { MBAP_HEADER_LENGTH, MbapReader, encodeMbap } from './mbap.js';
import { exceptionError, hex, timeoutError, type FramingContext, type ModbusFraming, type ModbusReply, type PreparedRequest } from './modbus-framing.js';

/** The connection's stream state, shared by its requests. */
class MbapStream {
  readonly reader = new MbapReader();
  private desyncsSeen = 0;
  nextTransactionId = 1;

  constructor(readonly ctx: FramingContext) {}

  /** The next complete frame received, or undefined; counts a desync once. */
  next(): Buffer | undefined {
    const raw = this.reader.next();
    if (raw === undefined && this.reader.desyncs !== this.desyncsSeen) {
      this.desyncsSeen = this.reader.desyncs;
      this.ctx.countFrameError();
    }
    return raw;
  }
}

class MbapExchange implements PreparedRequest {
  /** Chunks that did not complete the reply, for the timeout message. */
  private received: Buffer[] | undefined;
  /** No serial line: wire time does not count. */
  readonly wireBytes = 0;

  constructor(
    private readonly stream: MbapStream,
    readonly adu: Buffer,
    private readonly transactionId: number,
    private readonly unitId: number,
    private readonly functionCode: number,
    /** Expected reply PDU length; -1 when the request's function code has no known reply shape. */
    private readonly replyPduLength: number,
  ) {}

  onData(chunk: Buffer): Step<ModbusReply> | undefined {
    const { stream } = this;
    stream.reader.append(chunk);
    let step: Step<ModbusReply> | undefined;
    for (let raw = stream.next(); raw !== undefined; raw = stream.next()) {
      if (step || raw.readUInt16BE(0) !== this.transactionId) {
        stream.ctx.countFrameError(); // a late reply to an earlier (timed-out) request, or junk after ours
        continue;
      }
      step = this.check(raw);
    }
    if (!step && chunk.length > 0) (this.received ??= []).push(chunk);
    return step;
  }

  onTimeout(timeoutMs: number): ShouwangError {
    const received = this.received === undefined ? Buffer.alloc(0) : Buffer.concat(this.received);
    return timeoutError(this.stream.ctx.busId, this.unitId, this.functionCode, timeoutMs, this.adu, received);
  }

  private check(raw: Buffer): Step<ModbusReply> {
    const fc = this.functionCode;
    const pduLength = raw.length - MBAP_HEADER_LENGTH;
    const code = raw[MBAP_HEADER_LENGTH];
    if (raw[6] !== this.unitId) return { error: this.frameError(raw, `unit id ${raw[6]}`) };
    if (code === (fc | 0x80) && pduLength >= 2)
      return { error: exceptionError(this.stream.ctx.busId, this.unitId, fc, raw[MBAP_HEADER_LENGTH + 1]!, this.adu, raw) };
    if (code !== fc) return { error: this.frameError(raw, `function code ${code}`) };
    if (pduLength !== this.replyPduLength) return { error: this.frameError(raw, `PDU length ${pduLength}`) };
    if (fc <= 4 && raw[MBAP_HEADER_LENGTH + 1] !== pduLength - 2) return { error: this.frameError(raw, `byte count ${raw[MBAP_HEADER_LENGTH + 1]}`) };
    if (fc > 4) {
      // A write is answered with an echo of its address and value/quantity (PDU bytes 1-4).
      for (let k = 1; k <= 4; k++) if (raw[MBAP_HEADER_LENGTH + k] !== this.adu[MBAP_HEADER_LENGTH + k]) return { error: this.frameError(raw, 'write echo differs') };
    }
    return { value: raw };
  }

  private frameError(raw: Buffer, why: string): ShouwangError {
    const { busId } = this.stream.ctx;
    const fc = this.functionCode;
    return new ShouwangError(ErrorCodes.TRANSPORT_FRAME, `bus ${busId}: bad reply from unit ${this.unitId} to FC${fc}: ${why}: ${hex(raw)}`, {
      details: { bus: busId, unitId: this.unitId, functionCode: fc, request: hex(this.adu), response: hex(raw) },
    });
  }
}

function replyPduLengthOf(pdu: Buffer): number {
  try {
    return expectedReplyPduLength(pdu);
  } catch {
    return -1;
  }
}

export function mbapFraming(ctx: FramingContext): ModbusFraming {
  const stream = new MbapStream(ctx);
  return {
    pduOffset: MBAP_HEADER_LENGTH,
    onIdle(chunk) {
      stream.reader.append(chunk);
      for (let raw = stream.next(); raw !== undefined; raw = stream.next()) ctx.countFrameError();
    },
    onOpened() {
      stream.reader.reset();
    },
    prepare(unitId, pdu): PreparedRequest {
      const tid = stream.nextTransactionId;
      stream.nextTransactionId = (tid % 0xffff) + 1;
      const adu = encodeMbap(tid, unitId, pdu);
      return new MbapExchange(stream, adu, tid, unitId, pdu[0]!, replyPduLengthOf(pdu));
    },
  };
}
