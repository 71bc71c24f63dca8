/**
 * What a linkage group does about one alarm (PURE): whom to tell, on which paths, which sirens
 * to fire. The message names rooms, never people: neighbours learn "room 302 of building B1 has
 * a burglary alarm", not who lives there (no tenant ids, no alarm fields).
 */
import type { Alarm } from '../../core/types.js';
import type { Room } from '../types.js';
import type { LinkagePolicy } from './config.js';

export type LinkageRoom = Pick<Room, 'id' | 'building' | 'number'> & { floor?: string | undefined; linkageGroup?: string | undefined };

export interface LinkageMessage {
  type: 'linkage';
  /** `alarm` when it starts; `reset` when a person has ended it. */
  phase: 'alarm' | 'reset';
  site: string;
  group: string;
  at: number;
  alarm: { id: string; rule: string; name: { zh: string; en: string }; severity: Alarm['severity']; raisedAt: number; code: Alarm['code'] };
  /** The household the alarm is at. */
  from: RoomRef;
  /** The other households of the group: who should look. */
  notify: RoomRef[];
  /** Sirens / strobes fired (phase alarm) or switched off (phase reset). */
  sirens: string[];
}

export interface RoomRef {
  room: string;
  building: string;
  number: string;
  floor?: string;
}

export interface SirenStep {
  device: string;
  command: string;
}

export interface LinkagePlan {
  message: LinkageMessage;
  mqtt: boolean;
  webhook: boolean;
  sirens: SirenStep[];
  /** After this long run `sirensOff` (undefined: leave them on). */
  offAfterMs?: number;
  sirensOff: SirenStep[];
}

function ref(r: LinkageRoom): RoomRef {
  return { room: r.id, building: r.building, number: r.number, ...(r.floor === undefined ? {} : { floor: r.floor }) };
}

/**
 * The plan for an alarm's first announcement at a household of a group, or undefined when the
 * group's policy ignores it (severity, silent). Only `alarm` kinds start linkage; restores don't.
 */
export function planLinkage(alarm: Alarm, room: LinkageRoom, groupRooms: readonly LinkageRoom[], policy: LinkagePolicy, site: string, now: number): LinkagePlan | undefined {
  if (alarm.kind !== 'alarm') return undefined;
  if (!policy.severities.includes(alarm.severity)) return undefined;
  if (alarm.silent && !policy.includeSilent) return undefined;
  const fire = policy.sirens && !alarm.silent && policy.sirens.severities.includes(alarm.severity) ? policy.sirens : undefined;
  const sirens = fire ? fire.devices.flatMap((device) => fire.commands.map((command) => ({ device, command }))) : [];
  const sirensOff = fire ? fire.devices.flatMap((device) => fire.offCommands.map((command) => ({ device, command }))) : [];
  const plan: LinkagePlan = {
    message: {
      type: 'linkage',
      phase: 'alarm',
      site,
      group: policy.group,
      at: now,
      alarm: { id: alarm.id, rule: alarm.rule, name: { ...alarm.name }, severity: alarm.severity, raisedAt: alarm.raisedAt, code: { ...alarm.code } },
      from: ref(room),
      notify: groupRooms.filter((r) => r.id !== room.id).map(ref),
      sirens: fire ? [...fire.devices] : [],
    },
    mqtt: policy.mqtt,
    webhook: policy.webhook !== undefined,
    sirens,
    sirensOff,
  };
  if (fire && fire.offAfterS > 0) plan.offAfterMs = fire.offAfterS * 1000;
  return plan;
}

/** The `reset` message for a linked alarm a person has ended. */
export function resetMessage(original: LinkageMessage, now: number, sirensOff: readonly string[]): LinkageMessage {
  return { ...original, phase: 'reset', at: now, sirens: [...sirensOff] };
}
