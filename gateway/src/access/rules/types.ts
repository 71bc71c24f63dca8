/**
 * What the pure rule modules decide, and what the rules runner needs to know about doors and
 * tenants (implemented by the registry / access log; see docs/access-rules.md "Wiring").
 */
import type { DeviceLocation, PointValue } from '../../core/types.js';
import type { Profile } from '../../profiles/schema.js';
import type { AccessRuleId } from './catalog.js';

/** Start an alarm (or warning) of `rule` at `door`. */
export interface RaiseDecision {
  action: 'raise';
  rule: AccessRuleId;
  /** The door device the alarm is raised on. */
  door: string;
  /** The tenant or credential the rule watches (part of the alarm's identity), if any. */
  subject?: string;
  ts: number;
  fields: Record<string, PointValue>;
}

/** The condition of `rule` at `door` ended. */
export interface ClearDecision {
  action: 'clear';
  rule: AccessRuleId;
  door: string;
  subject?: string;
  ts: number;
}

export type RuleDecision = RaiseDecision | ClearDecision;

/** A door (lock, entrance controller, door contact) and where it is. */
export interface DoorInfo {
  device: string;
  /** The device's profile: which rules it already raises itself, and its point names. */
  profile?: Profile;
  building?: string;
  room?: string;
  /** Sent with the alarm (the device config's location, with building/room filled in). */
  location?: DeviceLocation;
}

/** A tenant who holds an active credential whose lease covers now. */
export interface RegisteredTenant {
  tenant: string;
  room: string;
  building?: string;
  /** A door of the tenant's room: where a not-seen warning is raised (undefined: `gateway`). */
  door?: string;
  /** Earliest validFrom of the tenant's active credentials: "not seen since" when never seen. */
  since: number;
}

/**
 * What the rules need from the registry and the access log. The lead wires it from the
 * registry (rooms, credentials) and the gateway config (devices, profiles).
 */
export interface RuleDirectory {
  /** The door device, or undefined for devices that are not doors (their points are ignored). */
  door(device: string): DoorInfo | undefined;
  /** Tenants with an active credential valid at `now`. */
  registeredTenants(now: number): Iterable<RegisteredTenant>;
  /** Time of the tenant's last granted pass (ms), from the access log; undefined if never. */
  lastSeen(tenant: string): number | undefined;
}
