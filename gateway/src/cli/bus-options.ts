/**
 * The connection options shared by `scan` and `read` (--port/--baud/--parity for a local
 * RS485 adapter, --host/--tcp-port[/--rtu-over-tcp] for Modbus TCP or a serial device server),
 * turned into an in-memory BusConfig validated by the same zod schema as gateway.yaml, so the
 * CLI opens the line exactly the way the gateway will.
 */
import type { Command } from 'commander';
import { busSchema, type BusConfig } from '../config/schema.js';
import { parseChoice, parseDurationOption, parseInteger } from './args.js';
import { UsageError } from './errors.js';

export interface BusCliOptions {
  port?: string;
  baud?: string;
  parity?: string;
  stopBits?: string;
  host?: string;
  tcpPort?: string;
  rtuOverTcp?: boolean;
  timeout?: string;
}

/** Add the shared connection options to a command. */
export function addBusOptions(cmd: Command, defaultTimeout: string): Command {
  return cmd
    .option('--port <path>', 'serial port of the RS485 adapter (/dev/ttyUSB0, COM3)')
    .option('--baud <rate>', 'baud rate', '9600')
    .option('--parity <parity>', 'none | even | odd', 'none')
    .option('--stop-bits <n>', '1 | 2', '1')
    .option('--host <host>', 'Modbus TCP device or serial device server (DTU) address')
    .option('--tcp-port <n>', 'TCP port', '502')
    .option('--rtu-over-tcp', 'the TCP peer is a transparent serial server: send RTU frames with CRC, not MBAP')
    .option('--timeout <duration>', 'response timeout per request, e.g. 200ms', defaultTimeout);
}

const optionOfField: Record<string, string> = {
  path: '--port',
  baudRate: '--baud',
  parity: '--parity',
  stopBits: '--stop-bits',
  host: '--host',
  port: '--tcp-port',
  timeout: '--timeout',
};

/** Build and validate the BusConfig; a human mistake is a UsageError naming the option. */
export function busConfigFromOptions(o: BusCliOptions, id = 'cli'): BusConfig {
  if ((o.port === undefined) === (o.host === undefined)) throw new UsageError('give either --port <serial path> or --host <address> (not both)');
  if (o.port !== undefined && o.rtuOverTcp) throw new UsageError('--rtu-over-tcp goes with --host, not --port');
  const timeout = parseDurationOption(o.timeout ?? '300ms', '--timeout', 10, 30_000);
  const baudRate = parseInteger(o.baud ?? '9600', '--baud', 1, 1_000_000);
  let raw: Record<string, unknown>;
  if (o.port !== undefined) {
    raw = {
      type: 'rtu',
      id,
      path: o.port,
      baudRate,
      parity: parseChoice(o.parity ?? 'none', '--parity', ['none', 'even', 'odd'] as const),
      stopBits: parseInteger(o.stopBits ?? '1', '--stop-bits', 1, 2),
      timeout,
    };
  } else {
    const port = parseInteger(o.tcpPort ?? '502', '--tcp-port', 1, 65535);
    raw = o.rtuOverTcp ? { type: 'rtu-over-tcp', id, host: o.host, port, baudRate, timeout } : { type: 'tcp', id, host: o.host, port, timeout };
  }
  const result = busSchema.safeParse(raw);
  if (!result.success) {
    const msgs = result.error.issues.map((i) => {
      const field = String(i.path[0] ?? '');
      return `${optionOfField[field] ?? field}: ${i.message}`;
    });
    throw new UsageError(msgs.join('; '));
  }
  return result.data;
}

/** One line that says what was opened, for the top of the output. */
export function describeBus(bus: BusConfig): string {
  switch (bus.type) {
    case 'rtu':
    case 'raw-serial':
      return `${bus.path} ${bus.baudRate} baud ${bus.dataBits}${bus.parity[0]!.toUpperCase()}${bus.stopBits} (Modbus RTU)`;
    case 'rtu-over-tcp':
      return `${bus.host}:${bus.port} (Modbus RTU over TCP, line ${bus.baudRate} baud)`;
    case 'tcp':
      return `${bus.host}:${bus.port} (Modbus TCP)`;
  }
}
