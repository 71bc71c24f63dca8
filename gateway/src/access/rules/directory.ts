/**
 * A RuleDirectory built from the gateway config (devices + profiles) and the registry (rooms,
 * tenants, last passes). The composition root creates one and calls `refresh()` when the registry's
 * rooms change; nothing here does I/O of its own (the registry functions may).
 *
 * A device is a door when its profile has a door contact point (`door` / `contact`, open/closed) or
 * when a room lists it among its doors. Its building and room come from the registry room that
 * lists it, else from the device's configured location (`location.building`, e.g. a building
 * entrance controller, which belongs to no room). The door map is rebuilt from the registry
 * every `maxAgeMs` (rooms change through the API) or at once on refresh().
 */
import type { DeviceLocation } from '../../core/types.js';
import type { Profile } from '../../profiles/schema.js';
import type { Room } from '../types.js';
import { profileCoverage } from './profile-coverage.js';
import type { DoorInfo, RegisteredTenant, RuleDirectory } from './types.js';

export interface ConfigRuleDirectoryOptions {
  /** The gateway's devices (the runtime's RuntimeDevice list fits). */
  devices: ReadonlyArray<{ config: { id: string; location?: DeviceLocation }; profile: Profile }>;
  /** The registry's rooms; read again on refresh(). */
  rooms: () => Iterable<Room>;
  registeredTenants: (now: number) => Iterable<RegisteredTenant>;
  lastSeen: (tenant: string) => number | undefined;
  /** Re-read the rooms when the door map is older than this (ms, default 30 s; 0 = only on refresh()). */
  maxAgeMs?: number;
  clock?: () => number;
}

export interface RefreshableRuleDirectory extends RuleDirectory {
  /** Re-read the registry's rooms (after rooms or their doors changed). */
  refresh(): void;
}

export function configRuleDirectory(opts: ConfigRuleDirectoryOptions): RefreshableRuleDirectory {
  const clock = opts.clock ?? Date.now;
  const maxAgeMs = opts.maxAgeMs ?? 30_000;
  let doors = new Map<string, DoorInfo>();
  let builtAt = 0;
  const build = () => {
    builtAt = clock();
    const roomOfDoor = new Map<string, Room>();
    for (const room of opts.rooms()) for (const d of room.doors) if (!roomOfDoor.has(d)) roomOfDoor.set(d, room);
    const next = new Map<string, DoorInfo>();
    for (const d of opts.devices) {
      const room = roomOfDoor.get(d.config.id);
      const hasDoorPoint = d.profile.points.some((p) => p.id === profileCoverage(d.profile).doorPoint);
      if (!room && !hasDoorPoint) continue;
      const info: DoorInfo = { device: d.config.id, profile: d.profile };
      const building = room?.building ?? d.config.location?.building;
      if (building !== undefined) info.building = building;
      if (room) info.room = room.id;
      if (d.config.location && Object.keys(d.config.location).length > 0) info.location = { ...d.config.location };
      next.set(d.config.id, info);
    }
    doors = next;
  };
  build();
  return {
    door: (device) => {
      // Rooms and their doors change through the API while the gateway runs.
      if (maxAgeMs > 0 && clock() - builtAt >= maxAgeMs) build();
      return doors.get(device);
    },
    registeredTenants: (now) => opts.registeredTenants(now),
    lastSeen: (tenant) => opts.lastSeen(tenant),
    refresh: build,
  };
}
