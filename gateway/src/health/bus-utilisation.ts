/**
 * Bus utilisation as a fraction of the wire limit (PURE), the way test/bench/bus-efficiency
 * measures it: the time the line carried frames (bytes × 11 bits ÷ baud, both directions, as
 * the transport counts it in `wireMs`) plus the 3.5-character silence every frame needs after
 * it, divided by the elapsed time. 1.0 means the line could carry nothing more; a bus polling
 * back to back at the wire limit reads about 0.95 (the rest is the gateway's turnaround).
 *
 * A Modbus TCP endpoint has no serial wire behind it and so no wire limit: its utilisation is
 * undefined (its transactions per second are still reported).
 */
import { silenceMs } from '../protocol/wire-timing.js';

/** The transport counters the calculation uses (TransportStats). */
export interface WireCounters {
  wireMs: number;
  requests: number;
  responses: number;
}

/**
 * Fraction of the wire limit used over `elapsedMs`, given the growth of the counters in that
 * time. Undefined without a baud rate (TCP) or without elapsed time.
 */
export function wireUtilisation(delta: WireCounters, elapsedMs: number, baud: number | undefined): number | undefined {
  if (baud === undefined || baud <= 0 || elapsedMs <= 0) return undefined;
  // One silence per frame: after each request, and after each reply that came back.
  const busyMs = delta.wireMs + silenceMs(baud) * (delta.requests + delta.responses);
  return busyMs / elapsedMs;
}
