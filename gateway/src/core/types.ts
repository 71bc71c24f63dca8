/**
 * Domain types shared by every module. Pure data: no I/O, no classes with hidden state.
 * The Point shape is a stable contract (ARCHITECTURE.md); change it only with a migration note.
 */

export type Quality = 'good' | 'stale' | 'bad';

/** A decoded point value: numbers, booleans, enum labels, strings, or a bitfield's named flags. */
export type PointValue = number | boolean | string | Readonly<Record<string, boolean>> | null;

export interface Point {
  device: string;
  point: string;
  value: PointValue;
  unit?: string;
  quality: Quality;
  /** Gateway time (ms since epoch) at which the value was read or went stale. */
  ts: number;
  /** Device-supplied time, when the device reports one. */
  sourceTs?: number;
}

export type Severity = 'emergency' | 'critical' | 'warning' | 'info';

export interface DeviceLocation {
  building?: string;
  room?: string;
  floor?: string;
  address?: string;
  lat?: number;
  lon?: number;
}

export type AccessMethod =
  | 'fingerprint'
  | 'card'
  | 'id_card'
  | 'face'
  | 'pin'
  | 'temp_code'
  | 'remote'
  | 'key'
  | 'unknown';

/** A device event produced by a profile rule that is not (only) an alarm: passes, state changes. */
export interface DeviceEvent {
  id: string;
  site: string;
  device: string;
  profile: string;
  /** Rule id from the profile, e.g. `pass`, `door_held_open`. */
  event: string;
  kind: 'access' | 'device';
  ts: number;
  /** Snapshot of the points named by the rule (e.g. user slot, method, result). */
  fields: Readonly<Record<string, PointValue>>;
  location?: DeviceLocation;
}

export type AlarmState = 'raised' | 'queued' | 'sent' | 'delivered' | 'acknowledged' | 'reset';

export interface AlarmCode {
  /** Contact ID event code (3 digits), e.g. 120 panic. */
  cid?: number;
  /** SIA DC-03 two-letter event code, e.g. PA. */
  sia?: string;
}

export interface Alarm {
  /** Stable id: survives restarts, used by receivers to drop duplicates. */
  id: string;
  site: string;
  device: string;
  profile: string;
  rule: string;
  name: { zh: string; en: string };
  code: AlarmCode;
  severity: Severity;
  /** `alarm` when the condition starts, `restore` when it clears (tamper closed, smoke cleared). */
  kind: 'alarm' | 'restore';
  /** Emergency alarms latch until a person resets them (GB 50394). */
  latch: boolean;
  /** Silent alarms (duress) are never shown or sounded at the device. */
  silent: boolean;
  state: AlarmState;
  raisedAt: number;
  updatedAt: number;
  location?: DeviceLocation;
  fields: Readonly<Record<string, PointValue>>;
  /** For a restore, the id of the alarm it restores. */
  restores?: string;
}

export type Availability = 'online' | 'offline';

export interface DeviceStatus {
  device: string;
  availability: Availability;
  since: number;
  /** Why the device went offline: timeout, crc, breaker, transport closed... */
  reason?: string;
  consecutiveFailures: number;
}

/** Supervision state of one alarm path (a forwarder), reported on every change and readable at any time. */
export interface PathHealth {
  path: string;
  type: string;
  up: boolean;
  /** Since when `up` has had its current value (ms since epoch). */
  since: number;
  /** Why it is down (or the last trouble), in words an installer can act on. */
  reason?: string;
  /** Last successful exchange with the far end (message or heartbeat). */
  lastOkAt?: number;
  /** For a loss: ms from the last successful exchange to the moment the loss was detected. */
  detectionMs?: number;
}
