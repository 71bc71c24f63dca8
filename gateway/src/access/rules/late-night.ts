/**
 * Frequent late-night entries (PURE): at least `count` granted entries by one tenant (or, when
 * unresolved, one credential / card) with a local time in [fromHour, toHour) within the last
 * `days` days -> warning `late_night_entries:<subject>` (CID 422 / SIA DG: granted, but irregular).
 * The window may wrap midnight (fromHour 23, toHour 5). After it fires the subject's count starts
 * again. Passes with nothing to follow (remote unlock, key, temporary code) are not counted.
 */
import type { AccessRecord } from '../types.js';
import type { LocalTime } from './local-time.js';
import { SlidingWindows } from './sliding-window.js';
import { passFields, subjectOf } from './record-fields.js';
import type { RaiseDecision } from './types.js';

export interface LateNightSettings {
  enabled: boolean;
  fromHour: number;
  toHour: number;
  count: number;
  days: number;
}

export function inNightWindow(hour: number, fromHour: number, toHour: number): boolean {
  return fromHour < toHour ? hour >= fromHour && hour < toHour : hour >= fromHour || hour < toHour;
}

export class LateNightRule {
  private readonly windows = new SlidingWindows<string>();
  private longestWindowMs = 0;

  constructor(private readonly local: LocalTime) {}

  evaluate(record: AccessRecord, settings: LateNightSettings): RaiseDecision | undefined {
    if (!settings.enabled || record.result !== 'granted') return undefined;
    const subject = subjectOf(record);
    if (subject === undefined) return undefined;
    const hour = this.local.hour(record.ts);
    if (!inNightWindow(hour, settings.fromHour, settings.toHour)) return undefined;
    const windowMs = settings.days * 86_400_000;
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    const entries = this.windows.add(subject, record.ts, record.door, windowMs);
    if (entries.length < settings.count) return undefined;
    this.windows.reset(subject);
    return {
      action: 'raise',
      rule: 'late_night_entries',
      door: record.door,
      subject,
      ts: record.ts,
      fields: { ...passFields(record), entries: entries.length, firstEntryAt: entries[0]!.ts, days: settings.days, localHour: hour },
    };
  }

  sweep(now: number): void {
    this.windows.sweep(now, this.longestWindowMs);
  }
}
