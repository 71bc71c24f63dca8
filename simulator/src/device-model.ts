/**
 * One simulated device: the register image a real device would hold (coils, discrete inputs,
 * input and holding registers) or, for a raw-serial device, the data bytes of its frames.
 * Values go in and out through the gateway's codec (`encodePoint` / `encodeFramePoint`), never a
 * second codec, so the simulator cannot drift from what the gateway decodes.
 *
 * No I/O here: the RTU bus, the TCP server and the lock board read and write this image.
 */
import type { PointValue } from '../../gateway/src/core/types.js';
import {
  decodeFramePoint,
  decodePoint,
  encodeFramePoint,
  encodePoint,
  frameByteCount,
  type CodecDefaults,
} from '../../gateway/src/profiles/codec.js';
import {
  isFramePoint,
  isModbusPoint,
  registerCount,
  type ModbusPointDef,
  type ModbusTable,
  type PointDef,
  type Profile,
} from '../../gateway/src/profiles/schema.js';
import { epochNow } from './clock.js';
import type { Location, Tenant, VillageDevice } from './village-schema.js';

/** Modbus exception codes a device answers with. */
export const ModbusExceptionCode = { illegalFunction: 1, illegalAddress: 2, illegalValue: 3, deviceFailure: 4 } as const;

export class ModbusException extends Error {
  constructor(readonly exceptionCode: number, message: string) {
    super(message);
    this.name = 'ModbusException';
  }
}

/** A write received from the master (Modbus FC05/06/15/16, or a raw-serial command frame). */
export interface WriteRecord {
  /** Epoch ms, sub-ms precision: when the request's first byte arrived. */
  ts: number;
  /** Modbus function code, or the frame command byte for raw-serial. */
  fc: number;
  table: 'coil' | 'holding' | 'frame';
  address: number;
  values: number[];
  /** Points the write touched, with their values after it. */
  points: Record<string, PointValue>;
  /** Raw-serial: the command frame id from the profile. */
  command?: string;
}

export interface DeviceFaults {
  /** Silent: answers nothing. */
  dead: boolean;
  /** Extra reply delay, ms. */
  slowMs: number;
}

export type WriteListener = (rec: WriteRecord) => void;
/** Told when the simulator wanted a point the profile lacks (or cannot encode a value); it logs once per profile/point. */
export type PointProblemReporter = (device: SimDevice, pointId: string, problem: string) => void;

const MAX_WRITES_KEPT = 1000;
/** Modbus spec limits per request. */
const SPEC_MAX_REGISTERS = 125;
const SPEC_MAX_BITS = 2000;

export class SimDevice {
  readonly id: string;
  readonly busId: string;
  readonly unitId: number;
  readonly location: Location;
  readonly tenants: Tenant[];
  readonly faults: DeviceFaults = { dead: false, slowMs: 0 };
  readonly tables: Record<ModbusTable, Uint16Array>;
  /** Raw-serial: data bytes per frame id (request reply or push). */
  readonly frames = new Map<string, Buffer>();
  private readonly defs = new Map<string, PointDef>();
  private readonly codecDefaults: CodecDefaults;
  private readonly writeLog: WriteRecord[] = [];
  private readonly writeListeners = new Set<WriteListener>();
  private readonly changeListeners = new Set<(pointId: string, value: PointValue) => void>();

  constructor(
    readonly config: VillageDevice,
    readonly profile: Profile,
    private readonly reportProblem: PointProblemReporter = () => {},
  ) {
    this.id = config.id;
    this.busId = config.busId;
    this.unitId = config.unitId;
    this.location = config.location;
    this.tenants = config.tenants;
    this.codecDefaults = { byteOrder: profile.byteOrder, wordOrder: profile.wordOrder };
    for (const p of profile.points) this.defs.set(p.id, p);
    this.tables = buildTables(profile);
    for (const p of profile.points) {
      if (!isFramePoint(p)) continue;
      const need = p.offset + frameByteCount(p);
      const cur = this.frames.get(p.frame);
      if (!cur || cur.length < need) {
        const buf = Buffer.alloc(need);
        if (cur) cur.copy(buf);
        this.frames.set(p.frame, buf);
      }
    }
    const id = profile.identify;
    if (id) id.expect.forEach((v, i) => (this.tables[id.table][id.address + i] = v ?? 0));
  }

  get kind(): Profile['kind'] {
    return this.profile.kind;
  }

  has(pointId: string): boolean {
    return this.defs.has(pointId);
  }

  pointDef(pointId: string): PointDef | undefined {
    return this.defs.get(pointId);
  }

  /**
   * Set a point's value in the image: a label from the point's map, a number (raw enum value or
   * engineering value), a boolean, or a bitfield's flags. False, with one log line per
   * profile/point, when the profile lacks the point or cannot represent the value.
   */
  set(pointId: string, value: PointValue): boolean {
    const def = this.defs.get(pointId);
    if (!def) {
      this.reportProblem(this, pointId, 'the profile has no such point');
      return false;
    }
    try {
      if (isModbusPoint(def)) {
        let v = boolFallback(def, value);
        if (def.decimalsFrom !== undefined && typeof v === 'number') {
          const d = this.get(def.decimalsFrom);
          if (typeof d === 'number') v = v * 10 ** d;
        }
        this.writePointRegisters(def, encodePoint(def, v, this.codecDefaults));
      } else if (isFramePoint(def)) {
        const buf = this.frames.get(def.frame);
        if (!buf) return false;
        encodeFramePoint(def, boolFallback(def, value), buf);
      } else {
        this.reportProblem(this, pointId, 'not a register or frame point');
        return false;
      }
    } catch (err) {
      this.reportProblem(this, pointId, err instanceof Error ? err.message : String(err));
      return false;
    }
    for (const l of this.changeListeners) l(pointId, this.get(pointId) ?? null);
    return true;
  }

  /** Current decoded value, undefined when the profile lacks the point. */
  get(pointId: string): PointValue | undefined {
    const def = this.defs.get(pointId);
    if (!def) return undefined;
    if (isModbusPoint(def)) {
      const t = this.tables[def.table];
      const n = isBit(def.table) ? 1 : registerCount(def);
      const regs = Array.from(t.subarray(def.address, def.address + n));
      let v = decodePoint(def, regs, this.codecDefaults);
      if (def.decimalsFrom !== undefined && typeof v === 'number') {
        const d = this.get(def.decimalsFrom);
        if (typeof d === 'number') v = Number((v / 10 ** d).toPrecision(12));
      }
      return v;
    }
    if (isFramePoint(def)) {
      const buf = this.frames.get(def.frame);
      return buf ? decodeFramePoint(def, buf) : undefined;
    }
    return undefined;
  }

  /** Every point's current value. */
  snapshot(): Record<string, PointValue> {
    const out: Record<string, PointValue> = {};
    for (const id of this.defs.keys()) out[id] = this.get(id) ?? null;
    return out;
  }

  /** Read registers or bits (0/1) as the master asked; throws ModbusException like a device would. */
  read(table: ModbusTable, address: number, count: number): number[] {
    const bit = isBit(table);
    if (count < 1 || count > (bit ? SPEC_MAX_BITS : SPEC_MAX_REGISTERS))
      throw new ModbusException(ModbusExceptionCode.illegalValue, `count ${count} out of range`);
    if (count > (bit ? this.profile.maxReadBits : this.profile.maxReadRegisters))
      throw new ModbusException(ModbusExceptionCode.illegalValue, `count ${count} above what this model accepts`);
    const t = this.tables[table];
    if (address + count > t.length)
      throw new ModbusException(ModbusExceptionCode.illegalAddress, `${table} ${address}+${count} beyond ${t.length}`);
    return Array.from(t.subarray(address, address + count));
  }

  /** Apply a master's write; records it and tells listeners (behaviours react to commands). */
  write(table: 'coil' | 'holding', address: number, values: readonly number[], fc: number, tsEpoch = epochNow()): WriteRecord {
    const t = this.tables[table];
    if (values.length === 0 || address + values.length > t.length)
      throw new ModbusException(ModbusExceptionCode.illegalAddress, `${table} ${address}+${values.length} beyond ${t.length}`);
    values.forEach((v, i) => (t[address + i] = table === 'coil' ? (v ? 1 : 0) : v & 0xffff));
    const points: Record<string, PointValue> = {};
    for (const def of this.defs.values()) {
      if (!isModbusPoint(def) || def.table !== table) continue;
      const n = isBit(table) ? 1 : registerCount(def);
      if (def.address < address + values.length && def.address + n > address) points[def.id] = this.get(def.id) ?? null;
    }
    return this.record({ ts: tsEpoch, fc, table, address, values: [...values], points });
  }

  /** Record a raw-serial command frame as a write (the lock board's open_lock). */
  recordFrameCommand(command: string, fc: number, data: readonly number[], tsEpoch = epochNow()): WriteRecord {
    return this.record({ ts: tsEpoch, fc, table: 'frame', address: 0, values: [...data], points: {}, command });
  }

  writes(sinceEpoch = 0): WriteRecord[] {
    return this.writeLog.filter((w) => w.ts >= sinceEpoch);
  }

  clearWrites(): void {
    this.writeLog.length = 0;
  }

  onWrite(l: WriteListener): () => void {
    this.writeListeners.add(l);
    return () => this.writeListeners.delete(l);
  }

  /** Point changes made through set() (not master writes): the lock board pushes on these. */
  onChange(l: (pointId: string, value: PointValue) => void): () => void {
    this.changeListeners.add(l);
    return () => this.changeListeners.delete(l);
  }

  private record(rec: WriteRecord): WriteRecord {
    this.writeLog.push(rec);
    if (this.writeLog.length > MAX_WRITES_KEPT) this.writeLog.splice(0, this.writeLog.length - MAX_WRITES_KEPT);
    for (const l of this.writeListeners) {
      try {
        l(rec);
      } catch {
        // A behaviour's reaction must never break the reply to the master.
      }
    }
    return rec;
  }

  /** Store a point's registers; points that own only some bits (bit/mask) merge into the register. */
  private writePointRegisters(def: ModbusPointDef, regs: number[]): void {
    const t = this.tables[def.table];
    if (isBit(def.table)) {
      t[def.address] = regs[0] ? 1 : 0;
      return;
    }
    const partial = regs.length === 1 && (def.bit !== undefined || (def.mask !== undefined && def.type !== 'bool'));
    if (!partial) {
      regs.forEach((r, i) => (t[def.address + i] = r & 0xffff));
      return;
    }
    let m = def.type === 'bool' && def.bit !== undefined ? 1 << def.bit : (def.mask ?? 0xffff) & 0xffff;
    if ((def.byteOrder ?? this.codecDefaults.byteOrder) === 'LE') m = ((m & 0xff) << 8) | ((m >> 8) & 0xff);
    t[def.address] = ((t[def.address] ?? 0) & ~m & 0xffff) | (regs[0]! & m);
  }
}

/**
 * Behaviours speak in the contract's labels (open, pressed, locked...). A bool point whose map
 * lacks the label (or that has no map) still gets the obvious truth value.
 */
const ACTIVE_LABELS = new Set(['open', 'pressed', 'tampered', 'alarm', 'motion', 'locked', 'fault', 'on', 'true', 'low', 'active']);
const INACTIVE_LABELS = new Set(['closed', 'released', 'normal', 'idle', 'unlocked', 'ok', 'off', 'false', 'inactive']);

function boolFallback(def: PointDef, value: PointValue): PointValue {
  if (def.type !== 'bool' || typeof value !== 'string') return value;
  if (def.map && Object.values(def.map).includes(value)) return value;
  if (ACTIVE_LABELS.has(value)) return true;
  if (INACTIVE_LABELS.has(value)) return false;
  return value;
}

function isBit(t: ModbusTable): boolean {
  return t === 'coil' || t === 'discrete';
}

/** Size each table to cover every point and the identify block; addresses in gaps read 0, beyond the end are illegal. */
function buildTables(profile: Profile): Record<ModbusTable, Uint16Array> {
  const size: Record<ModbusTable, number> = { coil: 0, discrete: 0, input: 0, holding: 0 };
  const grow = (t: ModbusTable, end: number) => (size[t] = Math.max(size[t], end));
  for (const p of profile.points) if (isModbusPoint(p)) grow(p.table, p.address + (isBit(p.table) ? 1 : registerCount(p)));
  for (const c of profile.commands) if (c.write) grow(c.write.table, c.write.address + 1);
  if (profile.identify) grow(profile.identify.table, profile.identify.address + profile.identify.count);
  return {
    coil: new Uint16Array(size.coil),
    discrete: new Uint16Array(size.discrete),
    input: new Uint16Array(size.input),
    holding: new Uint16Array(size.holding),
  };
}

