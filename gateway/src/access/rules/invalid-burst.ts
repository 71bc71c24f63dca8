/**
 * Invalid-credential burst (PURE): at least `count` denied attempts at one door within
 * `windowMin` minutes -> warning `invalid_credential_burst` (CID 421 / SIA JA). After it fires the
 * door's count starts again, so the next warning needs another `count` denials.
 *
 * The shipped lock raises its own `invalid_credential` after 5 consecutive denials. While that
 * alarm is active at the door (`isSuppressed`), this rule does not add a second warning for the
 * same attempts; it still catches denials the lock's counter misses (a granted pass in between
 * resets the lock's count, and controllers have no counter at all).
 */
import type { AccessRecord } from '../types.js';
import { SlidingWindows } from './sliding-window.js';
import { passFields } from './record-fields.js';
import type { RaiseDecision } from './types.js';

export interface BurstSettings {
  enabled: boolean;
  count: number;
  windowMin: number;
}

export class InvalidBurstRule {
  private readonly windows = new SlidingWindows<string>();
  private longestWindowMs = 0;

  /** `isSuppressed` is asked only when the count is reached: is the lock's own alarm active at the door? */
  evaluate(record: AccessRecord, settings: BurstSettings, isSuppressed: () => boolean = () => false): RaiseDecision | undefined {
    if (!settings.enabled || record.result !== 'denied') return undefined;
    const windowMs = settings.windowMin * 60_000;
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    const inWindow = this.windows.add(record.door, record.ts, record.id, windowMs);
    if (inWindow.length < settings.count) return undefined;
    this.windows.reset(record.door);
    if (isSuppressed()) return undefined;
    const first = inWindow[0]!.ts;
    return {
      action: 'raise',
      rule: 'invalid_credential_burst',
      door: record.door,
      ts: record.ts,
      fields: { ...passFields(record), denials: inWindow.length, firstDenialAt: first, windowMin: settings.windowMin },
    };
  }

  /** Forget doors with no denial for a whole window (memory bound). */
  sweep(now: number): void {
    this.windows.sweep(now, this.longestWindowMs);
  }
}
