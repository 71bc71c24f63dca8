/**
 * Online rate roll-ups (PURE). A group's rate is time-weighted: the sum of its devices' online
 * time over the sum of their observed time, never the mean of the devices' ratios (a device
 * watched for ten minutes must not weigh as much as one watched all day).
 */
import { onlineRatio, type OnlineTime } from './availability-timeline.js';

/** What the roll-ups group a device by. */
export interface DeviceIdentity {
  id: string;
  /** Device kind from the profile (door-lock, alarm-pole, ...). */
  kind: string;
  profile: string;
  building?: string;
  room?: string;
  /** Bus id; absent for MQTT-native devices. */
  bus?: string;
}

export interface RateRollup extends OnlineTime {
  /** onlineMs / observedMs; 0 when nothing was observed. */
  ratio: number;
  devices: number;
}

export interface OnlineRollups {
  site: RateRollup;
  buildings: Record<string, RateRollup>;
  kinds: Record<string, RateRollup>;
}

/** Building label of devices whose config has no `location.building`. */
export const NO_BUILDING = '-';

export function buildingOf(d: Pick<DeviceIdentity, 'building'>): string {
  return d.building === undefined || d.building === '' ? NO_BUILDING : d.building;
}

/** Sum online and observed time of a set of devices. */
export function rollUp(times: Iterable<OnlineTime>): RateRollup {
  let onlineMs = 0;
  let observedMs = 0;
  let devices = 0;
  for (const t of times) {
    onlineMs += t.onlineMs;
    observedMs += t.observedMs;
    devices++;
  }
  return { onlineMs, observedMs, ratio: onlineRatio({ onlineMs, observedMs }), devices };
}

/**
 * Site, per-building and per-kind roll-ups. A device with no entry in `times` counts as watched
 * for nothing (it adds to the device count, not to the time).
 */
export function onlineRollups(devices: readonly DeviceIdentity[], times: ReadonlyMap<string, OnlineTime>): OnlineRollups {
  const none: OnlineTime = { onlineMs: 0, observedMs: 0 };
  const timeOf = (d: DeviceIdentity): OnlineTime => times.get(d.id) ?? none;
  const group = (keyOf: (d: DeviceIdentity) => string): Record<string, RateRollup> => {
    const groups = new Map<string, OnlineTime[]>();
    for (const d of devices) {
      const key = keyOf(d);
      const list = groups.get(key);
      if (list) list.push(timeOf(d));
      else groups.set(key, [timeOf(d)]);
    }
    const out: Record<string, RateRollup> = {};
    for (const key of [...groups.keys()].sort()) out[key] = rollUp(groups.get(key)!);
    return out;
  };
  return { site: rollUp(devices.map(timeOf)), buildings: group(buildingOf), kinds: group((d) => d.kind) };
}

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** A window's label for metrics and JSON: 86400000 -> `24h`, 3600000 -> `1h`, 900000 -> `15m`. */
export function windowLabel(ms: number): string {
  // Hours read better than days up to a week (dashboards say "24h", not "1d").
  if (ms % 3_600_000 === 0 && ms <= 7 * 86_400_000) return `${ms / 3_600_000}h`;
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
