/** The link and line timing a bus config implies (shared by the Modbus and raw-frame transports). */
import type { BusConfig } from '../config/schema.js';
import { silenceMs } from '../protocol/wire-timing.js';
import type { LinkFactory } from './byte-link.js';
import { serialLink } from './serial-link.js';
import { tcpLink } from './tcp-link.js';

/** Shortest connect timeout for TCP links; longer when the bus timeout is longer. */
const MIN_CONNECT_TIMEOUT_MS = 3000;

export function linkFor(bus: BusConfig): LinkFactory {
  switch (bus.type) {
    case 'rtu':
    case 'raw-serial':
      return () => serialLink({ path: bus.path, baudRate: bus.baudRate, parity: bus.parity, dataBits: bus.dataBits, stopBits: bus.stopBits });
    case 'rtu-over-tcp':
    case 'tcp':
      return () => tcpLink({ host: bus.host, port: bus.port, connectTimeoutMs: Math.max(MIN_CONNECT_TIMEOUT_MS, bus.timeout) });
  }
}

/** Baud of the serial line behind the bus, or undefined for Modbus TCP (no line to time). */
export function lineBaud(bus: BusConfig): number | undefined {
  return bus.type === 'tcp' ? undefined : bus.baudRate;
}

/** Silence before each request: configured, else 3.5 characters (1.75 ms above 19200), none for Modbus TCP. */
export function interFrameSilence(bus: BusConfig): number {
  if (bus.interFrameDelay !== undefined) return bus.interFrameDelay;
  const baud = lineBaud(bus);
  return baud === undefined ? 0 : silenceMs(baud);
}
