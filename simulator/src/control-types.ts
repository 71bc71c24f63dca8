/**
 * The run-time control surface of the simulator, one interface for three doors: in-process
 * (`handle.control`), over HTTP (`SimControlClient`), and the HTTP server that maps one onto the
 * other. Request bodies are zod schemas: the server parses every body at the boundary.
 */
import { z } from 'zod';
import type { PointValue } from '../../gateway/src/core/types.js';
import type { DeviceFaults, WriteRecord } from './device-model.js';
import type { ModemFaults, SmsRecord } from './virtual-modem.js';
import type { LockBoardStats } from './lock-board.js';
import type { BusFaults, RtuBusStats } from './rtu-bus.js';
import type { TcpBusStats } from './tcp-slaves.js';
import type { Location, Parity } from './village-schema.js';

export type { BusFaults, DeviceFaults, ModemFaults, SmsRecord, WriteRecord };

export interface DeviceSummary {
  id: string;
  bus: string;
  busKind: 'rtu' | 'tcp' | 'raw-serial';
  profile: string;
  kind: string;
  unitId: number;
  location: Location;
  tenants: Array<{ slot: number; methods: string[] }>;
  faults: DeviceFaults;
}

export type BusEndpoint =
  | { id: string; type: 'rtu'; path: string; baud: number; parity: Parity }
  | { id: string; type: 'rtu-over-tcp'; host: string; port: number; baud: number; parity: Parity }
  | { id: string; type: 'raw-serial'; path: string; baud: number; parity: Parity };

/** A Modbus TCP device: its own port (village bus kind `tcp`). */
export interface TcpDeviceEndpoint {
  /** Device id. */
  id: string;
  /** Village bus the device belongs to. */
  bus: string;
  type: 'tcp';
  host: string;
  port: number;
  unitId: number;
}

export interface SimEndpoints {
  /** Serial lines: rtu (pty path), rtu-over-tcp (fallback without socat), raw-serial (pty path). */
  buses: BusEndpoint[];
  tcpDevices: TcpDeviceEndpoint[];
  /** Base URL of the HTTP control API. */
  control: string;
  /** How RTU lines are carried: real pty pairs, or RTU over TCP when socat is missing. */
  lines: 'pty' | 'rtu-over-tcp';
  /** Buses that could not be started (raw-serial needs a pty), with the reason. */
  unavailable: Array<{ id: string; reason: string }>;
  runDir: string;
  /** The virtual GSM modem's pty (the gateway's SMS path), when socat is available. */
  modem?: string;
}

export interface FaultsSnapshot {
  buses: Record<string, BusFaults & { unplugged: boolean }>;
  devices: Record<string, DeviceFaults>;
}

export type BusStats = RtuBusStats | TcpBusStats | LockBoardStats;

export interface SimStats {
  /** Epoch ms the simulator started. */
  startedAt: number;
  uptimeMs: number;
  buses: BusStats[];
}

export const setPointsBody = z.record(z.string(), z.union([z.number(), z.boolean(), z.string(), z.null(), z.record(z.string(), z.boolean())]));
export const pressBody = z.object({ holdMs: z.number().int().min(0).max(600_000).optional() }).strict();
export const passBody = z
  .object({
    user: z.number().int().min(0).max(0xffff).optional(),
    method: z.string().min(1).optional(),
    result: z.enum(['granted', 'denied', 'duress']).optional(),
  })
  .strict();
export const strangerBody = z.object({ attempts: z.number().int().min(1).max(50).optional() }).strict();
export const tamperBody = z.object({ on: z.boolean().optional(), holdMs: z.number().int().min(0).max(3_600_000).optional() }).strict();
export const doorBody = z.object({ door: z.number().int().min(1).max(255), open: z.boolean() }).strict();
export const deviceFaultsBody = z.object({ dead: z.boolean().optional(), slowMs: z.number().min(0).max(60_000).optional() }).strict();
export const busFaultsBody = z
  .object({ crcRequestRate: z.number().min(0).max(1).optional(), crcReplyRate: z.number().min(0).max(1).optional() })
  .strict();
export const unplugBody = z.object({ ms: z.number().int().min(0).max(3_600_000) }).strict();
/** Virtual-modem faults (POST /modem/faults). */
export const modemFaultsBody = z
  .object({
    noNetwork: z.boolean().optional(),
    silent: z.boolean().optional(),
    cmsError: z.boolean().optional(),
    unsolicitedNoise: z.boolean().optional(),
    refuseNumbers: z.array(z.string()).optional(),
  })
  .strict();

export const faultsBody = z
  .object({
    buses: z.record(z.string(), busFaultsBody).optional(),
    devices: z.record(z.string(), deviceFaultsBody).optional(),
  })
  .strict();
export const behaviourBody = z.object({ enabled: z.boolean() }).strict();

export type PressOptions = z.infer<typeof pressBody>;
export type PassOptions = z.infer<typeof passBody>;
export type StrangerOptions = z.infer<typeof strangerBody>;
export type TamperOptions = z.infer<typeof tamperBody>;

export interface SimControl {
  listDevices(): Promise<DeviceSummary[]>;
  getPoints(deviceId: string): Promise<Record<string, PointValue>>;
  /** Set points directly in the image; `skipped` lists ids the profile lacks or values it cannot hold. */
  setPoints(deviceId: string, values: Record<string, PointValue>): Promise<{ ts: number; set: string[]; skipped: string[] }>;
  /** Press an alarm pole's button; `ts` is when the button went down in the image (epoch ms, sub-ms). */
  press(deviceId: string, opts?: PressOptions): Promise<{ ts: number; releaseAt: number }>;
  /** A tenant pass at a lock or entrance controller. */
  pass(deviceId: string, opts?: PassOptions): Promise<{ ts: number; user: number; method: string }>;
  /** A stranger tries wrong fingerprints. */
  stranger(deviceId: string, opts?: StrangerOptions): Promise<{ ts: number; attempts: number }>;
  tamper(deviceId: string, opts?: TamperOptions): Promise<{ ts: number }>;
  /** Open or close a door behind a raw-serial lock board (pushes door_changed). */
  door(deviceId: string, door: number, open: boolean): Promise<{ ts: number }>;
  /** Writes the master made to this device, oldest first; `since` in epoch ms. */
  writes(deviceId: string, opts?: { since?: number }): Promise<WriteRecord[]>;
  clearWrites(deviceId: string): Promise<void>;
  faults(): Promise<FaultsSnapshot>;
  setBusFaults(busId: string, faults: Partial<BusFaults>): Promise<BusFaults>;
  setDeviceFaults(deviceId: string, faults: Partial<DeviceFaults>): Promise<DeviceFaults>;
  /** Pull a bus's plug for `ms`; resolves once the port is gone (`ts`), it returns by itself at `until`. */
  unplug(busId: string, ms: number): Promise<{ ts: number; until: number }>;
  clearFaults(): Promise<void>;
  stats(): Promise<SimStats>;
  setBehaviour(enabled: boolean): Promise<{ enabled: boolean }>;
  /** Text messages the virtual modem accepted, oldest first. */
  modemMessages(): Promise<SmsRecord[]>;
  /** Set virtual-modem faults (no network, silent, +CMS ERROR, refused numbers). */
  setModemFaults(faults: Partial<ModemFaults>): Promise<ModemFaults>;
}
