/**
 * Wire timing of a simulated RS485 line (pure). A pty moves bytes instantly whatever the baud,
 * so the slave delays each reply to when a real line would have delivered it, and checks the
 * master's silences as a real slave would. The numbers come from the gateway's wire-timing.ts
 * (11 bits per character; t3.5, or 1.75 ms above 19200 baud) so both sides count alike.
 */
import { silenceMs, wireTimeMs } from '../../gateway/src/protocol/wire-timing.js';

/**
 * When the reply's last byte would reach the master: the request still has to finish crossing
 * the wire (`arrival` is when its first byte came in), the slave waits t3.5 to see the end of
 * the frame, then sends its reply. Extra: a slow slave's additional processing time.
 */
export function replyDueAt(arrival: number, requestBytes: number, replyBytes: number, baud: number, extraMs = 0): number {
  return arrival + wireTimeMs(requestBytes, baud) + silenceMs(baud) + wireTimeMs(replyBytes, baud) + extraMs;
}

/** When a frame whose first byte arrived at `arrival` stops occupying the line. */
export function frameEndsAt(arrival: number, bytes: number, baud: number): number {
  return arrival + wireTimeMs(bytes, baud);
}

/**
 * A frame must start at least t3.5 after the previous frame on the line ended; a real slave
 * cannot tell an earlier start from the tail of the previous frame and discards it.
 */
export function breaksSilence(firstByteAt: number, lineQuietSince: number, baud: number): boolean {
  return firstByteAt < lineQuietSince + silenceMs(baud);
}
