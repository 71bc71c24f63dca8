/**
 * `shouwang scan`: find which unit ids answer on a line and which profiles they could be.
 * For every id, each distinct `identify` block of the loaded profiles is read once; a profile is
 * a candidate when every non-null value of its `expect` matches. An id that does not answer the
 * first probe is skipped after one short timeout, so a full 1-247 sweep at 9600 baud takes
 * about a minute.
 */
import { SingleBar } from 'cli-progress';
import type { BusConfig } from '../config/schema.js';
import { ErrorCodes, isShouwangError } from '../errors.js';
import type { LoadedProfile } from '../profiles/registry.js';
import type { ModbusTable, Profile } from '../profiles/schema.js';
import { exceptionNames } from '../protocol/modbus-pdu.js';
import type { ModbusTransport } from '../transport/types.js';
import { describeBus } from './bus-options.js';
import type { CliOutput } from './io.js';
import { bytesFromDetails } from './open-transport.js';
import { modiconRef } from './register-ref.js';
import { hex16, toHex } from './text.js';

export interface IdentifyProbe {
  table: ModbusTable;
  address: number;
  count: number;
  /** Profiles whose identify block is exactly this read. */
  profiles: Array<{ profile: Profile; expect: ReadonlyArray<number | null> }>;
}

/** Distinct identify reads, the most widely shared first (it answers for the most profiles). */
export function identifyProbes(profiles: readonly LoadedProfile[]): IdentifyProbe[] {
  const byKey = new Map<string, IdentifyProbe>();
  for (const { profile } of profiles) {
    const id = profile.identify;
    if (!id) continue;
    const key = `${id.table}:${id.address}:${id.count}`;
    const probe = byKey.get(key) ?? { table: id.table, address: id.address, count: id.count, profiles: [] };
    probe.profiles.push({ profile, expect: id.expect });
    byKey.set(key, probe);
  }
  return [...byKey.values()].sort((a, b) => b.profiles.length - a.profiles.length || a.address - b.address);
}

/** `expect` matches when each non-null position equals the value read (null is a wildcard). */
export function expectMatches(expect: ReadonlyArray<number | null>, values: readonly number[]): boolean {
  return expect.every((want, i) => want === null || values[i] === want);
}

export interface ProbeOutcome {
  table: ModbusTable;
  address: number;
  count: number;
  request?: Buffer;
  response?: Buffer;
  values?: number[];
  /** Modbus exception code: the device answered, but not with data. */
  exception?: number;
  /** Garbled or otherwise failed reply (CRC, framing): something is there. */
  error?: string;
  timedOut?: boolean;
  candidates: string[];
}

export interface UnitResult {
  unit: number;
  probes: ProbeOutcome[];
  /** Profile ids matched by any probe. */
  candidates: string[];
}

export function unitResponded(r: UnitResult): boolean {
  return r.probes.some((p) => !p.timedOut);
}

function exceptionCodeOf(err: unknown): number | undefined {
  if (!isShouwangError(err, ErrorCodes.MODBUS_EXCEPTION)) return undefined;
  const d = err.details ?? {};
  for (const k of ['exceptionCode', 'exception', 'code']) if (typeof d[k] === 'number') return d[k];
  const m = /exception\s*(?:code\s*)?(?:0x)?(\d+)/i.exec(err.message);
  return m ? Number(m[1]) : 0;
}

/** Run one probe against one unit; never throws for a device-side failure. */
export async function runProbe(transport: ModbusTransport, unit: number, probe: IdentifyProbe, timeoutMs: number): Promise<ProbeOutcome> {
  const base = { table: probe.table, address: probe.address, count: probe.count };
  try {
    const r = await transport.read(unit, probe.table, probe.address, probe.count, { timeoutMs });
    const candidates = probe.profiles.filter((p) => expectMatches(p.expect, r.values)).map((p) => p.profile.id);
    return { ...base, request: r.request, response: r.response, values: r.values, candidates };
  } catch (err) {
    const details = isShouwangError(err) ? err.details : undefined;
    const bytes = { request: bytesFromDetails(details, 'request'), response: bytesFromDetails(details, 'response') };
    if (isShouwangError(err, ErrorCodes.TRANSPORT_TIMEOUT)) return { ...base, ...bytes, timedOut: true, candidates: [] };
    const exception = exceptionCodeOf(err);
    if (exception !== undefined) return { ...base, ...bytes, exception, candidates: [] };
    if (isShouwangError(err, ErrorCodes.TRANSPORT_CRC) || isShouwangError(err, ErrorCodes.TRANSPORT_FRAME))
      return { ...base, ...bytes, error: err.message, candidates: [] };
    throw err; // port lost, closed...: the scan cannot go on
  }
}

/** Probe one unit: stop after a timeout on the first probe (nobody there), else try every probe. */
export async function scanUnit(transport: ModbusTransport, unit: number, probes: readonly IdentifyProbe[], timeoutMs: number): Promise<UnitResult> {
  const outcomes: ProbeOutcome[] = [];
  for (const probe of probes) {
    const o = await runProbe(transport, unit, probe, timeoutMs);
    outcomes.push(o);
    if (o.timedOut && outcomes.length === 1) break;
  }
  const candidates = [...new Set(outcomes.flatMap((o) => o.candidates))];
  return { unit, probes: outcomes, candidates };
}

function describeOutcome(o: ProbeOutcome): string {
  if (o.timedOut) return 'no reply';
  if (o.exception !== undefined) return `exception ${o.exception} (${exceptionNames[o.exception] ?? 'unknown'})`;
  if (o.error !== undefined) return `bad reply: ${o.error}`;
  return (o.values ?? []).map(hex16).join(' ');
}

function probeName(o: ProbeOutcome): string {
  return `${o.table} ${o.address} ×${o.count} (${modiconRef(o.table, o.address)})`;
}

/**
 * Report for the units that answered (pure). Reads that returned data are shown with their
 * bytes; the probes a unit refused (exception, no reply) are summed up in one line, since with a
 * dozen profiles most probes of most units are refusals. A unit that only refused still shows
 * the bytes of its first refusal, so every responder has raw hex to look at.
 */
export function formatScanReport(results: readonly UnitResult[], profiles: readonly LoadedProfile[]): string {
  const nameOf = new Map(profiles.map(({ profile: p }) => [p.id, `${p.name.zh} / ${p.name.en}`]));
  const out: string[] = [];
  for (const r of results.filter(unitResponded)) {
    out.push(`unit ${r.unit}`);
    const withData = r.probes.filter((o) => o.values);
    const shown = withData.length > 0 ? withData : r.probes.filter((o) => !o.timedOut).slice(0, 1);
    for (const o of shown) {
      out.push(`  read ${probeName(o)}: ${describeOutcome(o)}`);
      if (o.request) out.push(`    tx ${toHex(o.request)}`);
      if (o.response) out.push(`    rx ${toHex(o.response)}`);
    }
    const refused = new Map<string, string[]>();
    for (const o of r.probes.filter((p) => !shown.includes(p))) {
      const why = describeOutcome(o);
      refused.set(why, [...(refused.get(why) ?? []), `${o.table} ${o.address} ×${o.count}`]);
    }
    for (const [why, blocks] of refused) out.push(`  ${why}: ${blocks.join(', ')}`);
    if (r.candidates.length > 0) {
      out.push('  candidate profiles:');
      for (const id of r.candidates) out.push(`    ${id}  ${nameOf.get(id) ?? ''}`.trimEnd());
    } else {
      const regs = withData.map((o) => `${o.table} ${o.address}: [${(o.values ?? []).map(hex16).join(' ')}]`);
      out.push(`  responded, no profile matched${regs.length ? ` (raw registers ${regs.join('; ')})` : ''}`);
    }
  }
  return out.join('\n');
}

export function scanJson(results: readonly UnitResult[]): unknown {
  return results.filter(unitResponded).map((r) => ({
    unit: r.unit,
    candidates: r.candidates,
    probes: r.probes.map((o) => ({
      table: o.table,
      address: o.address,
      count: o.count,
      request: o.request ? toHex(o.request) : undefined,
      response: o.response ? toHex(o.response) : undefined,
      values: o.values,
      exception: o.exception,
      error: o.error,
      timedOut: o.timedOut,
    })),
  }));
}

export interface ScanOptions {
  bus: BusConfig;
  ids: number[];
  timeoutMs: number;
  profiles: LoadedProfile[];
  json: boolean;
  /** Draw the progress bar (stderr is a terminal). */
  progress: boolean;
}

/** The scan itself; the caller owns the transport (opens and closes it). */
export async function runScan(opts: ScanOptions, transport: ModbusTransport, io: CliOutput): Promise<UnitResult[]> {
  let probes = identifyProbes(opts.profiles);
  if (probes.length === 0) {
    io.err('no loaded profile has an identify block: probing holding register 0 only (no candidates can match)');
    probes = [{ table: 'holding', address: 0, count: 1, profiles: [] }];
  }
  const idText = opts.ids.length === 1 ? `unit id ${opts.ids[0]}` : `${opts.ids.length} unit ids (${opts.ids[0]}-${opts.ids[opts.ids.length - 1]})`;
  io.err(`scanning ${describeBus(opts.bus)}: ${idText}, timeout ${opts.timeoutMs} ms`);
  io.err(`probes: ${probes.map((p) => `${p.table} ${p.address} ×${p.count} (${p.profiles.length} profile${p.profiles.length === 1 ? '' : 's'})`).join(', ')}`);

  const bar = opts.progress
    ? new SingleBar({
        format: 'scan [{bar}] {value}/{total} unit {unit} | found: {found}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
      })
    : undefined;
  bar?.start(opts.ids.length, 0, { unit: opts.ids[0] ?? '-', found: 'none' });
  const started = Date.now();
  const results: UnitResult[] = [];
  const found: number[] = [];
  try {
    for (const unit of opts.ids) {
      bar?.update({ unit });
      const r = await scanUnit(transport, unit, probes, opts.timeoutMs);
      results.push(r);
      if (unitResponded(r)) found.push(unit);
      bar?.increment(1, { found: found.length ? found.join(',') : 'none' });
    }
  } finally {
    bar?.stop();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (opts.json) io.out(JSON.stringify(scanJson(results), null, 2));
  else {
    const report = formatScanReport(results, opts.profiles);
    if (report) io.out(report);
    io.out(`scan complete: ${opts.ids.length} id${opts.ids.length === 1 ? '' : 's'} in ${seconds} s; ${found.length} responded${found.length ? `: ${found.join(', ')}` : ''}`);
  }
  return results;
}
