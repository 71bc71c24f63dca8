/**
 * Open a Modbus transport for a one-off CLI command. The CLI goes through the same transport
 * as the gateway (one request in flight, wire timing, CRC checks), so what `scan` and `read`
 * see is what polling will see.
 */
import { pino } from 'pino';
import type { BusConfig } from '../config/schema.js';
import { silentLogger, type Logger } from '../log.js';
import { createModbusTransport } from '../transport/index.js';
import type { ModbusTransport } from '../transport/types.js';

/** Transport logs go to stderr and only with --verbose: stdout is the command's result. */
export function cliLogger(verbose: boolean): Logger {
  return verbose ? pino({ level: 'debug', base: { app: 'shouwang-cli' } }, pino.destination(2)) : silentLogger();
}

export async function openTransport(bus: BusConfig, verbose: boolean): Promise<ModbusTransport> {
  const transport = createModbusTransport(bus, cliLogger(verbose));
  try {
    await transport.open();
  } catch (err) {
    // The transport keeps retrying a failed open until closed; a one-off command gives up instead.
    await transport.close();
    throw err;
  }
  return transport;
}

/** Bytes an error carries in `details` (request/response as Buffer, byte array or hex), when the transport attached them. */
export function bytesFromDetails(details: Readonly<Record<string, unknown>> | undefined, key: 'request' | 'response' | 'received'): Buffer | undefined {
  const v = details?.[key];
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]);
  if (typeof v === 'string' && /^[0-9a-f\s]+$/i.test(v) && v.replace(/\s/g, '').length % 2 === 0) return Buffer.from(v.replace(/\s/g, ''), 'hex');
  return undefined;
}
