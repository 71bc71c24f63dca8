/**
 * Where a Modbus RTU request ends, found from its function code (pure). A real slave finds the
 * end of a frame by 3.5 character times of silence; on a pty there is no silence to see (bytes
 * arrive all at once, whatever the baud), so the slave reads the length from the function code
 * (`requestPduLength`) and uses a short idle timeout only for codes it does not know.
 */
import { requestPduLength } from '../../gateway/src/protocol/modbus-pdu.js';

/** Largest RTU frame: address + 253-byte PDU + CRC. */
export const RTU_MAX_FRAME = 256;

export type RequestScan =
  /** Not enough bytes yet to know the frame, or the frame is not complete. */
  | { kind: 'need-more' }
  /** A complete frame of `length` bytes (address + PDU + CRC) starts the buffer. */
  | { kind: 'frame'; length: number }
  /** Function code unknown: the end can only be found by silence (take the whole burst). */
  | { kind: 'unknown-length' }
  /** The announced length is impossible: garbage. */
  | { kind: 'garbage' };

/** Scan the start of `buf` (address, function code...) for one request frame. */
export function scanRtuRequest(buf: Uint8Array): RequestScan {
  if (buf.length < 2) return { kind: 'need-more' };
  const pduLength = requestPduLength(buf.subarray(1));
  if (pduLength === undefined) {
    const fc = buf[1]!;
    // FC15/16 need their byte-count byte (offset 6) before the length is known.
    if ((fc === 0x0f || fc === 0x10) && buf.length < 7) return { kind: 'need-more' };
    return { kind: 'unknown-length' };
  }
  const length = 1 + pduLength + 2;
  if (length > RTU_MAX_FRAME) return { kind: 'garbage' };
  return buf.length >= length ? { kind: 'frame', length } : { kind: 'need-more' };
}
