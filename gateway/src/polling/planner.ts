/**
 * Read planner (PURE): turns a device's profile + instance config + the bus's polling config
 * into block reads, and decodes a block's reply back into point values.
 *
 * Points are grouped by table and poll interval (classes with the same interval share a group,
 * which takes the fastest class's name; a point with its own interval in ms joins the class of
 * that interval, else gets its own group). Inside a group, points on touching or overlapping registers share one read; a gap is
 * read through when one longer transaction costs less wire time than two (wire-timing.ts), and
 * no read exceeds the profile's maxReadRegisters / maxReadBits. Alarm points never mix with
 * others: an alarm block covers only alarm points, so an alarm sweep is as short as it can be — sweep time is the
 * floor of alarm latency.
 */
import type { BusConfig, DeviceConfig, PollingConfig } from '../config/schema.js';
import type { StatePointSpec } from '../core/state.js';
import type { PointValue } from '../core/types.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import { decodePoint, type CodecDefaults } from '../profiles/codec.js';
import {
  isFramePoint,
  isModbusPoint,
  pollOf,
  registerCount,
  type ModbusPointDef,
  type ModbusTable,
  type PointDef,
  type PollClass,
  type Profile,
} from '../profiles/schema.js';
import { isBitTable } from '../protocol/modbus-pdu.js';
import { transactionMinMs } from '../protocol/wire-timing.js';
import { POLL_CLASS_RANK, type BlockPollClass } from './types.js';

/** How bytes and transactions cost time on this bus, for the gap-merging decision. */
export type WireModel =
  | {
      /** RTU framing (slave address + CRC) on a serial line, local or behind a device server. */
      framing: 'rtu';
      baudRate: number;
      /** Typical slave think time before it answers, ms (adds to the cost of each extra transaction). Default 0. */
      turnaroundMs?: number;
    }
  | {
      /** Modbus TCP (MBAP header): a transaction costs a round trip; bytes are nearly free. */
      framing: 'tcp';
      /** Default 2 ms (LAN). */
      roundTripMs?: number;
    };

export interface PlannerOptions {
  wire: WireModel;
  /**
   * Never read through a gap wider than this many registers/bits, whatever the wire cost.
   * Some devices answer "illegal data address" for unmapped registers inside a read.
   */
  maxGap?: number;
}

/** A point inside a block: its registers (or its one bit) start at `offset` in the reply. */
export interface BlockPoint {
  def: ModbusPointDef;
  offset: number;
  count: number;
}

export interface ReadBlock {
  /** Stable id, unique on the bus: `<device>/<table>/<address>+<count>/<class>`. */
  id: string;
  device: string;
  unitId: number;
  table: ModbusTable;
  /** 0-based protocol address of the first register/bit read. */
  address: number;
  count: number;
  pollClass: BlockPollClass;
  /** Poll interval, ms (0 for alarm blocks swept back to back). */
  intervalMs: number;
  points: BlockPoint[];
  /** Registers/bits read that belong to no point (read through gaps). */
  gap: number;
}

export interface DevicePlan {
  device: string;
  unitId: number;
  profile: string;
  /** Codec defaults from the profile (byte/word order). */
  codec: CodecDefaults;
  /** Alarm blocks first, then by table and address. */
  blocks: ReadBlock[];
}

export interface ResolvedPoll {
  pollClass: BlockPollClass;
  intervalMs: number;
}

/**
 * Effective class and interval of a poll setting. A number equal to a class's interval joins
 * that class (so its registers can share that class's reads); any other number is `custom`.
 */
export function resolvePoll(poll: PollClass | number, intervals: PollingConfig['intervals']): ResolvedPoll {
  if (typeof poll === 'string') return { pollClass: poll, intervalMs: intervals[poll] };
  for (const cls of ['fast', 'normal', 'slow'] as const) if (intervals[cls] === poll) return { pollClass: cls, intervalMs: poll };
  return { pollClass: 'custom', intervalMs: poll };
}

/** Poll setting of one point on one device: the device's override, else the profile's. */
export function pointPoll(def: PointDef, device: DeviceConfig): PollClass | number {
  return device.poll?.[def.id] ?? pollOf(def);
}

/** RTU/TCP frame sizes of a block read. RTU: request 8; reply 5 + 2n (registers) or 5 + ceil(n/8) (bits). TCP: MBAP adds 4 and drops the CRC. */
export function blockWireBytes(table: ModbusTable, count: number, framing: 'rtu' | 'tcp' = 'rtu'): { request: number; reply: number } {
  const data = isBitTable(table) ? Math.ceil(count / 8) : count * 2;
  // RTU: addr + fc + 4 + crc2 = 8 ; reply addr + fc + bytecount + data + crc2. TCP: MBAP(7) + fc + 4 ; MBAP(7) + fc + bytecount + data.
  return framing === 'rtu' ? { request: 8, reply: 5 + data } : { request: 12, reply: 9 + data };
}

/** Shortest time one block read occupies the bus, ms. */
export function blockCostMs(table: ModbusTable, count: number, wire: WireModel): number {
  if (wire.framing === 'rtu') {
    const { request, reply } = blockWireBytes(table, count, 'rtu');
    return transactionMinMs(request, reply, wire.baudRate) + (wire.turnaroundMs ?? 0);
  }
  const { request, reply } = blockWireBytes(table, count, 'tcp');
  // 100 Mbit/s Ethernet: 0.08 µs per byte; the round trip dominates.
  return (wire.roundTripMs ?? 2) + ((request + reply) * 8) / 100_000;
}

/** A tie saves nothing on the wire and reads registers nobody asked for: do not merge on float noise. */
const COST_EPSILON_MS = 1e-6;

interface Span {
  start: number;
  end: number; // exclusive
  points: ModbusPointDef[];
}

/** A block of a device's plan with everything but the device: the same for every device of a profile. */
interface BlockLayout {
  table: ModbusTable;
  address: number;
  count: number;
  pollClass: BlockPollClass;
  intervalMs: number;
  points: BlockPoint[];
  gap: number;
  /** The block id after `<device>/`. */
  idSuffix: string;
}

/**
 * Layouts per profile and (intervals, wire, maxGap), for devices without poll overrides: the
 * devices of one profile share one layout (and its point lists) instead of each holding a copy.
 */
const layoutCache = new WeakMap<Profile, Map<string, readonly BlockLayout[]>>();

/** Plan the block reads of one device. Throws SW_ERR_CONFIG_INVALID when the device's poll overrides name unknown points. */
export function planDevice(device: DeviceConfig, profile: Profile, polling: PollingConfig, options: PlannerOptions): DevicePlan {
  checkOverrides(device, profile);
  const unitId = device.unitId ?? 1;
  const blocks: ReadBlock[] = layoutOf(device, profile, polling, options).map((l) => ({
    // Joined, not a template literal: one flat string, not a chain of string pieces per block.
    id: [device.id, l.idSuffix].join('/'),
    device: device.id,
    unitId,
    table: l.table,
    address: l.address,
    count: l.count,
    pollClass: l.pollClass,
    intervalMs: l.intervalMs,
    points: l.points,
    gap: l.gap,
  }));
  return {
    device: device.id,
    unitId,
    profile: profile.id,
    codec: codecOf(profile),
    blocks,
  };
}

const codecByProfile = new WeakMap<Profile, CodecDefaults>();
function codecOf(profile: Profile): CodecDefaults {
  let codec = codecByProfile.get(profile);
  if (!codec) {
    codec = Object.freeze({ byteOrder: profile.byteOrder, wordOrder: profile.wordOrder });
    codecByProfile.set(profile, codec);
  }
  return codec;
}

function layoutOf(device: DeviceConfig, profile: Profile, polling: PollingConfig, options: PlannerOptions): readonly BlockLayout[] {
  if (device.poll !== undefined && Object.keys(device.poll).length > 0) return computeLayout(device, profile, polling, options);
  let byKey = layoutCache.get(profile);
  if (!byKey) {
    byKey = new Map();
    layoutCache.set(profile, byKey);
  }
  const key = JSON.stringify([polling.intervals, options.wire, options.maxGap ?? null]);
  let layout = byKey.get(key);
  if (!layout) {
    layout = computeLayout(device, profile, polling, options);
    byKey.set(key, layout);
  }
  return layout;
}

function computeLayout(device: DeviceConfig, profile: Profile, polling: PollingConfig, options: PlannerOptions): readonly BlockLayout[] {
  const groups = new Map<string, { table: ModbusTable; poll: ResolvedPoll; points: ModbusPointDef[] }>();
  for (const def of profile.points) {
    if (!isModbusPoint(def)) continue;
    const poll = resolvePoll(pointPoll(def, device), polling.intervals);
    // Classes polled at the same interval are one cadence: their points share reads (e.g. every
    // class at 1 s). The block takes the fastest of those classes. Alarm points never join others.
    const key = poll.pollClass === 'alarm' ? `${def.table}|alarm` : `${def.table}|${poll.intervalMs}`;
    let g = groups.get(key);
    if (!g) {
      g = { table: def.table, poll, points: [] };
      groups.set(key, g);
    } else if (POLL_CLASS_RANK[poll.pollClass] < POLL_CLASS_RANK[g.poll.pollClass]) g.poll = poll;
    g.points.push(def);
  }

  const blocks: BlockLayout[] = [];
  for (const g of groups.values()) {
    const bits = isBitTable(g.table);
    const limit = bits ? profile.maxReadBits : profile.maxReadRegisters;
    for (const span of mergeSpans(toSpans(g.points, bits), g.table, limit, options)) {
      const count = span.end - span.start;
      const covered = new Set<number>();
      const points = span.points.map((def) => {
        const n = bits ? 1 : registerCount(def);
        for (let a = def.address; a < def.address + n; a++) covered.add(a);
        return { def, offset: def.address - span.start, count: n };
      });
      blocks.push({
        table: g.table,
        address: span.start,
        count,
        pollClass: g.poll.pollClass,
        intervalMs: g.poll.intervalMs,
        points,
        gap: count - covered.size,
        idSuffix: `${g.table}/${span.start}+${count}/${g.poll.pollClass === 'custom' ? `${g.poll.intervalMs}ms` : g.poll.pollClass}`,
      });
    }
  }
  // Alarm blocks first, then by table and address (a plain comparison: the table names are ASCII).
  blocks.sort((a, b) => Number(b.pollClass === 'alarm') - Number(a.pollClass === 'alarm') || (a.table < b.table ? -1 : a.table > b.table ? 1 : 0) || a.address - b.address);
  return blocks;
}

function checkOverrides(device: DeviceConfig, profile: Profile): void {
  for (const id of Object.keys(device.poll ?? {})) {
    if (!profile.points.some((p) => p.id === id))
      throw new ShouwangError(
        ErrorCodes.CONFIG_INVALID,
        `device "${device.id}": poll override names point "${id}", which profile "${profile.id}" does not have`,
        { details: { device: device.id, point: id, profile: profile.id } },
      );
  }
}

/** One span per point; points on overlapping registers (bits of one register, a bitfield and its bools) fold together. */
function toSpans(points: readonly ModbusPointDef[], bits: boolean): Span[] {
  const sorted = [...points].sort((a, b) => a.address - b.address);
  const spans: Span[] = [];
  for (const def of sorted) {
    const end = def.address + (bits ? 1 : registerCount(def));
    const last = spans[spans.length - 1];
    if (last && def.address < last.end) {
      last.end = Math.max(last.end, end);
      last.points.push(def);
    } else spans.push({ start: def.address, end, points: [def] });
  }
  return spans;
}

/** Greedy left-to-right: extend the current read while it stays within the limit and reading through is cheaper. */
function mergeSpans(spans: readonly Span[], table: ModbusTable, limit: number, options: PlannerOptions): Span[] {
  const out: Span[] = [];
  for (const span of spans) {
    const cur = out[out.length - 1];
    if (cur && span.end - cur.start <= limit) {
      const gap = span.start - cur.end;
      const cheaper =
        gap <= 0 ||
        (gap <= (options.maxGap ?? Number.POSITIVE_INFINITY) &&
          blockCostMs(table, span.end - cur.start, options.wire) <
            blockCostMs(table, cur.end - cur.start, options.wire) + blockCostMs(table, span.end - span.start, options.wire) - COST_EPSILON_MS);
      if (cheaper) {
        cur.end = Math.max(cur.end, span.end);
        cur.points.push(...span.points);
        continue;
      }
    }
    // A single point wider than the limit cannot be split; the profile schema caps strings at 125 registers.
    out.push({ start: span.start, end: span.end, points: [...span.points] });
  }
  return out;
}

export interface DecodedBlock {
  values: Record<string, PointValue>;
  /** Point id -> why it could not be decoded (publish as quality bad). Shared and frozen when empty: do not modify. */
  bad: Readonly<Record<string, string>>;
  /** Points held back because their `decimalsFrom` scale has not been read yet. Shared and frozen when empty. */
  pending: readonly string[];
}

/**
 * Decode a block's reply (registers, or one 0/1 element per bit for coil/discrete). Never
 * throws: a point that cannot be decoded is reported in `bad`. `previous` supplies values read
 * earlier by other blocks (a `decimalsFrom` scale read in a slow block).
 */
export function decodeBlock(
  block: ReadBlock,
  raw: readonly number[],
  codec: CodecDefaults,
  previous: Readonly<Record<string, PointValue>> = {},
): DecodedBlock {
  const values: Record<string, PointValue> = {};
  let bad: Record<string, string> | undefined;
  let pending: string[] | undefined;
  let scaled = false;
  for (const { def, offset, count } of block.points) {
    if (def.decimalsFrom !== undefined) scaled = true;
    if (offset + count > raw.length) {
      (bad ??= {})[def.id] = `short reply: ${raw.length} of ${block.count} ${isBitTable(block.table) ? 'bits' : 'registers'}`;
      continue;
    }
    try {
      // Decoded in place from the block's reply: no copy of its registers per point.
      const v = decodePoint(def, raw, codec, offset);
      if (v === null) (bad ??= {})[def.id] = 'not a finite number';
      else values[def.id] = v;
    } catch (err) {
      (bad ??= {})[def.id] = `decode failed: ${errorMessage(err)}`;
    }
  }
  if (scaled) {
    for (const { def } of block.points) {
      if (def.decimalsFrom === undefined || !(def.id in values)) continue;
      const v = values[def.id];
      const decimals = values[def.decimalsFrom] ?? previous[def.decimalsFrom];
      if (decimals === undefined) {
        // Publishing the unscaled number would be wrong by a factor of 10^n; wait for the scale.
        delete values[def.id];
        (pending ??= []).push(def.id);
      } else if (typeof v !== 'number' || typeof decimals !== 'number' || !Number.isInteger(decimals) || decimals < 0 || decimals > 9) {
        delete values[def.id];
        (bad ??= {})[def.id] = `bad decimals from ${def.decimalsFrom}: ${JSON.stringify(decimals)}`;
      } else values[def.id] = Number((v / 10 ** decimals).toPrecision(12));
    }
  }
  // The usual read decodes every point: one shared, frozen empty record and list, not two new ones.
  return { values, bad: bad ?? NOTHING_BAD, pending: pending ?? NOTHING_PENDING };
}

const NOTHING_BAD: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NOTHING_PENDING: string[] = Object.freeze([]) as unknown as string[];

/**
 * What the last-value state needs per point: unit, deadband and the interval it is refreshed
 * at (Modbus points: their poll; frame points: their request's poll; pushed/MQTT points: none).
 */
export function statePointSpecs(device: DeviceConfig, profile: Profile, polling: PollingConfig): StatePointSpec[] {
  return profile.points.map((def) => {
    const spec: StatePointSpec = { id: def.id };
    if (def.unit !== undefined) spec.unit = def.unit;
    if (def.deadband !== undefined) spec.deadband = def.deadband;
    if (isModbusPoint(def)) spec.intervalMs = resolvePoll(pointPoll(def, device), polling.intervals).intervalMs;
    else if (isFramePoint(def)) {
      const req = profile.serial?.requests.find((r) => r.id === def.frame);
      if (req) spec.intervalMs = resolvePoll(req.poll ?? 'normal', polling.intervals).intervalMs;
    }
    return spec;
  });
}

/** The wire model of a Modbus bus from its config (raw-serial buses are not planned). */
export function wireModelForBus(bus: BusConfig): WireModel {
  switch (bus.type) {
    case 'rtu':
    case 'rtu-over-tcp':
      return { framing: 'rtu', baudRate: bus.baudRate };
    case 'tcp':
      return { framing: 'tcp' };
    case 'raw-serial':
      return { framing: 'rtu', baudRate: bus.baudRate };
  }
}
