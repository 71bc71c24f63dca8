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

/** The parts of a raw frame (as returned by MbapReader.next()). */
export function mbapFrame(raw: Buffer): MbapFrame {
  return { transactionId: raw.readUInt16BE(0), unitId: raw[6]!, pdu: raw.subarray(MBAP_HEADER_LENGTH), raw };
}

const NO_FRAMES: MbapFrame[] = [];
Object.freeze(NO_FRAMES);
const EMPTY = Buffer.alloc(0);

export class MbapReader {
  private buf: Buffer = EMPTY;
  /** Times the stream made no sense (bad protocol id or length) and the buffer was dropped. */
  desyncs = 0;

  /**
   * Add received bytes. The chunk is kept (not copied) until its frames are taken with next():
   * a link hands each chunk over for good, so it must not be reused by the caller.
   */
  append(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
  }

  /**
   * The next complete frame (transaction id at 0, unit id at 6, PDU from 7), or undefined when
   * more bytes are needed. A frame that is a whole chunk is that chunk itself: the usual reply
   * costs no copy and no allocation.
   */
  next(): Buffer | undefined {
    const buf = this.buf;
    if (buf.length < MBAP_HEADER_LENGTH) return undefined;
    const protocolId = buf.readUInt16BE(2);
    const length = buf.readUInt16BE(4);
    if (protocolId !== 0 || length < 2 || length > MAX_LENGTH_FIELD) {
      // A TCP stream has no sync marker to search for: drop what we have and start afresh.
      this.desyncs++;
      this.buf = EMPTY;
      return undefined;
    }
    const total = 6 + length;
    if (buf.length < total) return undefined;
    if (buf.length === total) {
      this.buf = EMPTY;
      return buf;
    }
    this.buf = buf.subarray(total);
    return buf.subarray(0, total);
  }

  /** append() then every complete frame, parsed (for callers that want them all at once). */
  push(chunk: Uint8Array): MbapFrame[] {
    this.append(chunk);
    let frames: MbapFrame[] | undefined;
    for (let raw = this.next(); raw; raw = this.next()) (frames ??= []).push(mbapFrame(raw));
    return frames ?? NO_FRAMES;
  }

  reset(): void {
    this.buf = EMPTY;
  }
}
