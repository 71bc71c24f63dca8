/**
 * The state a device wakes up in: doors closed, bolts thrown, buttons released, batteries full.
 * Keyed by the point ids of docs/profile-contract.md; a profile without one of these points is
 * simply skipped (defaults are a convenience, not a contract).
 */
import type { PointValue } from '../../gateway/src/core/types.js';
import type { SimDevice } from './device-model.js';

const BY_POINT: Record<string, PointValue> = {
  door: 'closed',
  contact: 'closed',
  bolt: 'locked',
  lock: 'locked',
  tamper: 'normal',
  battery_low: 'normal',
  button: 'released',
  call_state: 'idle',
  smoke: 'normal',
  smoke_level: 0,
  gas_alarm: 'normal',
  concentration: 0,
  resolution: 1,
  motion: 'idle',
  fault: 'normal',
  last_result: 'granted',
  alarm_code: 'none',
  invalid_count: 0,
  event_seq: 0,
  // Plausible readings, so a fresh village does not show 0 V supplies and 0 °C cabinets.
  supply_voltage: 12.1,
  cabinet_temp: 26.5,
  board_temp: 31.2,
  temperature: 25.4,
  sensor_temp: 24.8,
  sensor_life: 96,
  warming_up: 'ready',
  alarm_low: 10,
  alarm_high: 25,
  gas_type: 'natural_gas',
  lux: 120,
  sensitivity: 5,
  hold_time: 30,
  volume: 80,
  unlock_time: 5,
  auto_lock_delay: 5,
  report_delay: 500,
  uptime: 86_400,
  mode: 'armed',
};

/** Full battery for the kind of device (a 4xAA lock reads ~6 V, a coin-cell sensor ~3 V). */
function fullBattery(device: SimDevice): PointValue | undefined {
  const def = device.pointDef('battery');
  if (!def) return undefined;
  if (def.unit === '%') return 100;
  if (def.unit === 'V') return device.kind === 'door-lock' || device.kind === 'access-controller' ? 6.0 : 3.0;
  return undefined;
}

/**
 * The same id can mean different things in different profiles (a siren's `volume` is a number,
 * a lock's is mute/low/high): a numeric default for an enum point that has no such raw value
 * becomes the point's first label instead of an undecodable raw value.
 */
function fitToPoint(device: SimDevice, point: string, value: PointValue): PointValue {
  const def = device.pointDef(point);
  if (def?.type !== 'enum' || !def.map || typeof value !== 'number') return value;
  if (String(value) in def.map) return value;
  return Object.values(def.map)[0] ?? value;
}

export function applyDefaults(device: SimDevice): void {
  // resolution first: concentration is scaled by it.
  if (device.has('resolution')) device.set('resolution', BY_POINT.resolution ?? 1);
  for (const [point, value] of Object.entries(BY_POINT)) {
    if (point === 'resolution' || !device.has(point)) continue;
    device.set(point, fitToPoint(device, point, value));
  }
  const battery = fullBattery(device);
  if (battery !== undefined) device.set('battery', battery);
  // Model name strings, where a profile has one: what `shouwang scan` shows.
  const model = device.pointDef('model');
  if (model && model.type === 'string') device.set('model', device.profile.id.replace(/^generic-/, '').slice(0, (model.length ?? 1) * 2).toUpperCase());
  for (const [point, value] of Object.entries(device.config.initial)) device.set(point, value);
}
