/**
 * Door forced open and door held open, from the door's contact and bolt points (PURE: readings
 * and time in, decisions out; the runner owns the clock).
 *
 *  - forced: the door goes from closed to open while the bolt/lock reads locked. Only for doors
 *    whose profile has no forced-open alarm of its own (the shipped lock and controller have one).
 *    Ends when the door closes (restore DR).
 *  - held open: open for warnAfterS -> warning `door_held_open`; open for alarmAfterS -> alarm
 *    `door_held_open_alarm`. The warning stage is skipped where the profile raises its own
 *    held-open alarm (the controller's `door_held_open`): the profile's warning stands for it and
 *    this rule only adds the escalation. Both end when the door closes.
 *
 * A reading of unknown quality (stale, bad, device offline) makes the door's state unknown: stages
 * not yet reached are cancelled (we cannot say the door stayed open), stages already raised stay
 * until the door is seen closed. A door first seen open (after a restart, or after unknown) is
 * timed from that reading; no forced-open edge is taken from an unknown previous state.
 */
import type { RuleDecision } from './types.js';

export interface DoorSettings {
  forced: boolean;
  /** 0 = stage off. */
  warnAfterS: number;
  alarmAfterS: number;
}

/** One read of a door: `undefined` = not in this read; `null` = read, but not trustworthy. */
export interface DoorReading {
  door: string;
  ts: number;
  open?: boolean | null;
  locked?: boolean | null;
}

interface DoorState {
  open: boolean | undefined;
  locked: boolean | undefined;
  openSince?: number;
  warnAt?: number;
  alarmAt?: number;
  forcedRaised: boolean;
  warnRaised: boolean;
  alarmRaised: boolean;
}

export class DoorRules {
  private readonly doors = new Map<string, DoorState>();
  /** Doors with a stage pending (warnAt / alarmAt set, not raised). */
  private readonly pending = new Set<string>();

  update(reading: DoorReading, settings: DoorSettings): RuleDecision[] {
    const s = this.state(reading.door);
    const out: RuleDecision[] = [];
    // The bolt first: when both change in one read, the door is judged against the new bolt.
    if (reading.locked !== undefined) s.locked = reading.locked ?? undefined;
    if (reading.open === undefined) return out;
    const was = s.open;
    if (reading.open === null) {
      s.open = undefined;
      this.cancelPending(reading.door, s);
      return out;
    }
    if (reading.open) {
      if (was === true) return out;
      s.open = true;
      if (was === false && s.locked === true && settings.forced && !s.forcedRaised) {
        s.forcedRaised = true;
        out.push({ action: 'raise', rule: 'door_forced', door: reading.door, ts: reading.ts, fields: { door: 'open', bolt: 'locked' } });
      }
      s.openSince = reading.ts;
      if (settings.warnAfterS > 0 && !s.warnRaised) s.warnAt = reading.ts + settings.warnAfterS * 1000;
      if (settings.alarmAfterS > 0 && !s.alarmRaised) s.alarmAt = reading.ts + settings.alarmAfterS * 1000;
      if (s.warnAt !== undefined || s.alarmAt !== undefined) this.pending.add(reading.door);
      return out;
    }
    // Closed.
    s.open = false;
    this.cancelPending(reading.door, s);
    s.openSince = undefined;
    const clear = (rule: 'door_forced' | 'door_held_open' | 'door_held_open_alarm') => out.push({ action: 'clear', rule, door: reading.door, ts: reading.ts });
    if (s.forcedRaised) clear('door_forced');
    if (s.warnRaised) clear('door_held_open');
    if (s.alarmRaised) clear('door_held_open_alarm');
    s.forcedRaised = s.warnRaised = s.alarmRaised = false;
    return out;
  }

  /** Stages whose time has come, in time order per door. */
  tick(now: number): RuleDecision[] {
    const out: RuleDecision[] = [];
    for (const door of this.pending) {
      const s = this.doors.get(door)!;
      const fields = (at: number) => ({ door: 'open', openedAt: s.openSince ?? null, heldOpenS: s.openSince === undefined ? null : Math.round((at - s.openSince) / 1000) });
      if (s.warnAt !== undefined && s.warnAt <= now) {
        out.push({ action: 'raise', rule: 'door_held_open', door, ts: s.warnAt, fields: fields(s.warnAt) });
        s.warnRaised = true;
        s.warnAt = undefined;
      }
      if (s.alarmAt !== undefined && s.alarmAt <= now) {
        out.push({ action: 'raise', rule: 'door_held_open_alarm', door, ts: s.alarmAt, fields: fields(s.alarmAt) });
        s.alarmRaised = true;
        s.alarmAt = undefined;
      }
      if (s.warnAt === undefined && s.alarmAt === undefined) this.pending.delete(door);
    }
    return out;
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const door of this.pending) {
      const s = this.doors.get(door)!;
      for (const t of [s.warnAt, s.alarmAt]) if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /** After a restart: an alarm of this rule is still active at the door (cleared when it is seen closed). */
  restoreRaised(door: string, rule: 'door_forced' | 'door_held_open' | 'door_held_open_alarm'): void {
    const s = this.state(door);
    if (rule === 'door_forced') s.forcedRaised = true;
    else if (rule === 'door_held_open') s.warnRaised = true;
    else s.alarmRaised = true;
  }

  private state(door: string): DoorState {
    let s = this.doors.get(door);
    if (!s) {
      s = { open: undefined, locked: undefined, forcedRaised: false, warnRaised: false, alarmRaised: false };
      this.doors.set(door, s);
    }
    return s;
  }

  private cancelPending(door: string, s: DoorState): void {
    s.warnAt = undefined;
    s.alarmAt = undefined;
    this.pending.delete(door);
  }
}
