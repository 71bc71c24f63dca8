/**
 * `shouwang read`: one test read with everything needed to debug a register map — the bytes on
 * the wire, every address notation and every plausible decoding, and (with --profile) what the
 * profile would make of it. Failures come with the likely cause, because "no reply" and
 * "illegal data address" each have a short list of usual suspects on site.
 */
import type { BusConfig } from '../config/schema.js';
import { ErrorCodes, isShouwangError, ShouwangError } from '../errors.js';
import type { ModbusTable, Profile } from '../profiles/schema.js';
import type { ModbusTransport, ReadResult } from '../transport/types.js';
import { describeBus } from './bus-options.js';
import { formatDecodings, blockAscii } from './decode-table.js';
import type { CliOutput } from './io.js';
import { bytesFromDetails } from './open-transport.js';
import { modiconRef, readFunctionName } from './register-ref.js';
import { plausibleDecodings } from '../profiles/codec.js';
import { toHex } from './text.js';

export interface ReadRequest {
  unit: number;
  table: ModbusTable;
  /** 0-based protocol address (already converted from --base 1). */
  address: number;
  count: number;
  /** The address as typed and its base, to echo it back. */
  typedAddress: number;
  base: 0 | 1;
}

/** Hint when an address looks like a Modicon reference (40001) typed as a protocol address. */
export function modiconHint(table: ModbusTable, typed: number): string | undefined {
  const prefix = { coil: 0, discrete: 1, input: 3, holding: 4 }[table];
  if (prefix === 0) return undefined;
  for (const [lo, hi] of [
    [prefix * 10_000 + 1, prefix * 10_000 + 9_999],
    [prefix * 100_000 + 1, prefix * 100_000 + 65_536],
  ] as const) {
    if (typed >= lo && typed <= hi) {
      const wire = typed - lo;
      return `${typed} looks like a Modicon reference: ${modiconRef(table, wire)} is ${table} address ${wire} on the wire (use --address ${wire}, or --address ${wire + 1} --base 1)`;
    }
  }
  return undefined;
}

/** The header lines: what was asked, in every notation. */
export function formatRequestLine(bus: BusConfig, req: ReadRequest): string {
  const last = req.address + req.count - 1;
  const range = req.count === 1 ? `address ${req.address}` : `addresses ${req.address}-${last}`;
  const refs = req.count === 1 ? modiconRef(req.table, req.address) : `${modiconRef(req.table, req.address)}-${modiconRef(req.table, last)}`;
  const typed = req.base === 1 ? ` (typed ${req.typedAddress} with --base 1)` : '';
  return [`line      ${describeBus(bus)}`, `request   unit ${req.unit}, ${readFunctionName(req.table)}, ${range} (0-based, on the wire)${typed}, ref ${refs}, count ${req.count}`].join('\n');
}

export function formatReadResult(bus: BusConfig, req: ReadRequest, r: ReadResult, profile?: Profile): string {
  return [
    formatRequestLine(bus, req),
    `tx        ${toHex(r.request)}`,
    `rx        ${toHex(r.response)}   (${r.response.length} bytes, ${r.elapsedMs.toFixed(1)} ms)`,
    '',
    formatDecodings({ table: req.table, address: req.address, values: r.values }, profile),
  ].join('\n');
}

export function readJson(req: ReadRequest, r: ReadResult): unknown {
  const bits = req.table === 'coil' || req.table === 'discrete';
  return {
    unit: req.unit,
    table: req.table,
    address: req.address,
    count: req.count,
    request: toHex(r.request),
    response: toHex(r.response),
    elapsedMs: r.elapsedMs,
    values: r.values,
    decodings: bits ? undefined : plausibleDecodings(r.values).map((d) => ({ address: req.address + d.at, as: d.as, value: d.value })),
    ascii: bits ? undefined : blockAscii(r.values),
  };
}

/** Re-throw a read failure with the usual causes spelled out (same code, so scripts can still match). */
export function explainReadFailure(err: unknown, bus: BusConfig, req: ReadRequest): never {
  if (!isShouwangError(err)) throw err;
  const lines = [err.message];
  const tx = bytesFromDetails(err.details, 'request');
  const rx = bytesFromDetails(err.details, 'response');
  if (tx) lines.push(`tx        ${toHex(tx)}`);
  const partial = bytesFromDetails(err.details, 'received');
  if (rx) lines.push(`rx        ${toHex(rx)}`);
  else if (partial && partial.length > 0) lines.push(`rx        ${toHex(partial)}   (incomplete)`);
  const serial = bus.type === 'rtu' || bus.type === 'rtu-over-tcp';
  if (err.code === ErrorCodes.TRANSPORT_TIMEOUT) {
    lines.push(`no reply from unit ${req.unit}. Usual causes:`);
    if (serial)
      lines.push(
        '  - A/B (D+/D-) swapped or not connected; no common ground on long lines',
        '  - wrong baud rate or parity (all devices on a line must match the gateway)',
        `  - wrong unit id (find it with: shouwang scan ... --ids 1-247)`,
      );
    else lines.push('  - wrong unit id (many TCP devices answer only unit 1 or 255)', '  - a gateway/DTU in front of the device needs a longer --timeout');
    lines.push('  - the device needs more time: try --timeout 1s');
  } else if (err.code === ErrorCodes.MODBUS_EXCEPTION) {
    if (/illegal data address|exception\D*2\b/i.test(err.message) || err.details?.exceptionCode === 2) {
      const unit = req.table === 'coil' || req.table === 'discrete' ? 'bit' : 'register';
      const what = `${req.table} ${unit}${req.count === 1 ? '' : 's'}`;
      lines.push(`the device has no ${what} at ${req.address}${req.count > 1 ? `-${req.address + req.count - 1}` : ''} (0-based). Usual causes:`);
      if (req.base === 0 && modiconHint(req.table, req.typedAddress)) {
        lines.push('  - the address is a Modicon reference, not a protocol address (see the hint below)');
      } else if (req.address > 0) {
        lines.push(`  - the datasheet counts from 1 (40001 style): try --address ${req.address - 1}, or give the datasheet number with --base 1`);
      } else {
        lines.push('  - the register map starts at 1, not 0: try --address 1');
      }
      lines.push('  - wrong table: the number may belong to another one (holding FC03 ↔ input FC04, coil FC01 ↔ discrete FC02)');
      if (req.count > 1) lines.push('  - the block is too long or crosses a gap in the map: try --count 1');
    } else if (/illegal function|exception\D*1\b/i.test(err.message) || err.details?.exceptionCode === 1) {
      lines.push(`the device does not support ${readFunctionName(req.table)}: try another --table (holding ↔ input, coil ↔ discrete)`);
    }
  } else if (err.code === ErrorCodes.TRANSPORT_CRC || err.code === ErrorCodes.TRANSPORT_FRAME) {
    lines.push('a reply came back garbled. Usual causes: wrong baud rate or parity, two devices with the same unit id, missing termination on a long line.');
  }
  const hint = req.base === 0 ? modiconHint(req.table, req.typedAddress) : undefined;
  if (hint) lines.push(`hint: ${hint}`);
  throw new ShouwangError(err.code, lines.join('\n'), { cause: err, details: err.details ? { ...err.details } : undefined });
}

export async function runRead(bus: BusConfig, req: ReadRequest, transport: ModbusTransport, io: CliOutput, opts: { json: boolean; profile?: Profile; timeoutMs: number }): Promise<void> {
  let r: ReadResult;
  try {
    r = await transport.read(req.unit, req.table, req.address, req.count, { timeoutMs: opts.timeoutMs });
  } catch (err) {
    explainReadFailure(err, bus, req);
  }
  io.out(opts.json ? JSON.stringify(readJson(req, r), null, 2) : formatReadResult(bus, req, r, opts.profile));
  // The read worked, but a number like 40017 is still more likely a reference than a real address.
  const hint = req.base === 0 ? modiconHint(req.table, req.typedAddress) : undefined;
  if (hint) io.err(`hint: ${hint}`);
}
