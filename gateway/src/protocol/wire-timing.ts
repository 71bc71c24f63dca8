/**
 * Serial wire timing, shared by the transport (silence between frames), the simulator (reply
 * delays, silence-rule checks) and the benchmarks (theoretical maximum). Modbus RTU counts
 * 11 bits per character (start + 8 data + parity or second stop + stop) and requires 3.5
 * character times of silence between frames; above 19200 baud the spec fixes it at 1.75 ms.
 */
export const BITS_PER_CHAR = 11;

export function charTimeMs(baud: number): number {
  return (BITS_PER_CHAR * 1000) / baud;
}

/** Time the bytes take on the wire, ms. */
export function wireTimeMs(bytes: number, baud: number): number {
  return bytes * charTimeMs(baud);
}

/** The 3.5-character inter-frame silence (t3.5), ms. */
export function silenceMs(baud: number): number {
  return baud > 19200 ? 1.75 : 3.5 * charTimeMs(baud);
}

/** Shortest possible duration of one request/reply transaction: both frames and both silences. */
export function transactionMinMs(requestBytes: number, replyBytes: number, baud: number): number {
  return wireTimeMs(requestBytes + replyBytes, baud) + 2 * silenceMs(baud);
}
