/**
 * Modbus TCP application header (MBAP), pure: transaction id, protocol id 0, length, unit id.
 * The reader splits a TCP byte stream into frames; the transaction id is what tells a late reply
 * from the current one.
 */
export const MBAP_HEADER_LENGTH = 7;
/** Largest PDU is 253 bytes; the length field counts the unit id too. */
const MAX_LENGTH_FIELD = 254;

export function encodeMbap(transactionId: number, unitId: number, pdu: Uint8Array): Buffer {
  // From the shared pool (every byte is written below): no ArrayBuffer of its own per request.
  const out = Buffer.allocUnsafe(MBAP_HEADER_LENGTH + pdu.length);
  out.writeUInt16BE(transactionId & 0xffff, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unitId;
  out.set(pdu, MBAP_HEADER_LENGTH);
  return out;
}

export interface MbapFrame {
  transactionId: number;
  unitId: number;
  pdu: Buffer;
  raw: Buffer;
}

const NO_FRAMES: MbapFrame[] = [];
Object.freeze(NO_FRAMES);

export class MbapReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Times the stream made no sense (bad protocol id or length) and the buffer was dropped. */
  desyncs = 0;

  push(chunk: Uint8Array): MbapFrame[] {
    // The chunk is only read, never written, so it can be parsed in place (a socket hands each
    // 'data' chunk over for good); frames are copied out below.
    this.buf = this.buf.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.buf, chunk]);
    if (this.buf.length < MBAP_HEADER_LENGTH) return NO_FRAMES;
    const frames: MbapFrame[] = [];
    while (this.buf.length >= MBAP_HEADER_LENGTH) {
      const protocolId = this.buf.readUInt16BE(2);
      const length = this.buf.readUInt16BE(4);
      if (protocolId !== 0 || length < 2 || length > MAX_LENGTH_FIELD) {
        // A TCP stream has no sync marker to search for: drop what we have and start afresh.
        this.desyncs++;
        this.buf = Buffer.alloc(0);
        break;
      }
      const total = 6 + length;
      if (this.buf.length < total) break;
      const raw = Buffer.from(this.buf.subarray(0, total));
      this.buf = this.buf.subarray(total);
      frames.push({ transactionId: raw.readUInt16BE(0), unitId: raw[6]!, pdu: raw.subarray(MBAP_HEADER_LENGTH), raw });
    }
    return frames;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}
