/**
 * Finding a Modbus RTU reply in received bytes (pure). RTU frames carry no length and no
 * transaction id, so the end of a reply comes from the request (expectedReplyPduLength) or is the
 * 5-byte exception frame, and a frame counts as the reply only if unit id, function code, shape
 * (byte count, or the echo of a write) and CRC all fit. Bytes in front of it are garbage.
 */
import { hasValidCrc } from '../protocol/crc16.js';
import { expectedReplyPduLength } from '../protocol/modbus-pdu.js';

export const EXCEPTION_FRAME_LENGTH = 5;

export type RtuScan =
  | { kind: 'incomplete' }
  /** A valid reply at `start` (bytes before it are garbage). */
  | { kind: 'reply'; start: number; frame: Buffer }
  | { kind: 'exception'; start: number; frame: Buffer; exceptionCode: number }
  /** A complete frame-shaped candidate failed its CRC and nothing valid follows it (yet). */
  | { kind: 'crc'; start: number; frame: Buffer };

/** Length of the whole RTU reply frame (unit + PDU + CRC) to a request PDU. */
export function rtuReplyLength(requestPdu: Uint8Array): number {
  return 1 + expectedReplyPduLength(requestPdu) + 2;
}

function shapeFits(rx: Uint8Array, at: number, requestPdu: Uint8Array, replyLength: number): boolean {
  const fc = requestPdu[0]!;
  if (fc <= 4) return rx[at + 2] === replyLength - 5; // read: byte count
  // Writes echo the address and the value (FC05/06) or the quantity (FC15/16).
  for (let k = 1; k <= 4; k++) if (rx[at + 1 + k] !== requestPdu[k]) return false;
  return true;
}

export function scanRtuReply(rx: Uint8Array, unitId: number, requestPdu: Uint8Array): RtuScan {
  const fc = requestPdu[0]!;
  const replyLength = rtuReplyLength(requestPdu);
  let bad: { start: number; end: number } | undefined;
  for (let i = 0; i + 1 < rx.length; i++) {
    if (rx[i] !== unitId) continue;
    const code = rx[i + 1];
    if (code === fc) {
      if (i + 2 < rx.length && fc <= 4 && rx[i + 2] !== replyLength - 5) continue; // wrong byte count: not ours
      const end = i + replyLength;
      if (end > rx.length) continue;
      const frame = rx.subarray(i, end);
      if (hasValidCrc(frame)) {
        // A valid frame of the wrong shape is some other exchange's reply (e.g. a late one): skip it.
        if (shapeFits(rx, i, requestPdu, replyLength)) return { kind: 'reply', start: i, frame: Buffer.from(frame) };
      } else if (!bad) bad = { start: i, end };
    } else if (code === (fc | 0x80)) {
      const end = i + EXCEPTION_FRAME_LENGTH;
      if (end > rx.length) continue;
      const frame = rx.subarray(i, end);
      if (hasValidCrc(frame)) return { kind: 'exception', start: i, frame: Buffer.from(frame), exceptionCode: frame[2]! };
      if (!bad) bad = { start: i, end };
    }
  }
  if (bad) return { kind: 'crc', start: bad.start, frame: Buffer.from(rx.subarray(bad.start, bad.end)) };
  return { kind: 'incomplete' };
}
