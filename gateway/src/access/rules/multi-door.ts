/**
 * One credential at several doors within a short time (PURE): the same credential (or the same
 * unregistered card) presented at `doors` or more different doors within `windowMin` minutes ->
 * warning `multi_door:<subject>` (a lent or cloned card). Granted and denied attempts both count.
 * Walking home through a building entrance to one's own room is two doors, so the default of
 * three does not flag it; buildings with a floor door as well set four.
 */
import type { AccessRecord } from '../types.js';
import { SlidingWindows } from './sliding-window.js';
import { passFields } from './record-fields.js';
import type { RaiseDecision } from './types.js';

export interface MultiDoorSettings {
  enabled: boolean;
  doors: number;
  windowMin: number;
}

/** The credential, or the card of an unregistered pass; tenants with two cards are two subjects. */
function credentialOf(r: AccessRecord): string | undefined {
  if (r.credential !== undefined) return r.credential;
  if (r.cardHash !== undefined) return `card-${r.cardHash.slice(0, 16)}`;
  return undefined;
}

export class MultiDoorRule {
  private readonly windows = new SlidingWindows<string>();
  private longestWindowMs = 0;

  evaluate(record: AccessRecord, settings: MultiDoorSettings): RaiseDecision | undefined {
    if (!settings.enabled) return undefined;
    const subject = credentialOf(record);
    if (subject === undefined) return undefined;
    const windowMs = settings.windowMin * 60_000;
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    const uses = this.windows.add(subject, record.ts, record.door, windowMs);
    const doors = new Set(uses.map((u) => u.item));
    if (doors.size < settings.doors) return undefined;
    this.windows.reset(subject);
    return {
      action: 'raise',
      rule: 'multi_door',
      door: record.door,
      subject,
      ts: record.ts,
      fields: { ...passFields(record, { cardHash: record.credential === undefined }), doors: [...doors].join(','), firstUseAt: uses[0]!.ts, windowMin: settings.windowMin },
    };
  }

  sweep(now: number): void {
    this.windows.sweep(now, this.longestWindowMs);
  }
}
