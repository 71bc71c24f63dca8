/**
 * Maintenance mapping (PURE). Tamper, a jammed bolt and a low battery are raised by the device
 * profiles themselves (lock `tamper` 137/TA, `jammed_bolt` 380/BT, `low_battery` 302/YT; door
 * contacts `low_battery` 384/XT …); the access rules raise nothing more for them. They sort those
 * alarms into the maintenance category: a `maintenance` event when one starts (`open`) and when
 * its restore arrives (`closed`), which the console lists as work for a technician.
 */
import type { Alarm } from '../../core/types.js';

export type MaintenanceIssue = 'tamper' | 'jammed_bolt' | 'low_battery';

const byRule: Record<string, MaintenanceIssue> = { tamper: 'tamper', jammed_bolt: 'jammed_bolt', low_battery: 'low_battery' };
const byCid: Record<number, MaintenanceIssue> = { 137: 'tamper', 144: 'tamper', 380: 'jammed_bolt', 302: 'low_battery', 384: 'low_battery' };
const bySia: Record<string, MaintenanceIssue> = { TA: 'tamper', BT: 'jammed_bolt', YT: 'low_battery', XT: 'low_battery' };

/** The maintenance issue an alarm reports, by its rule id, else by its code; undefined if none. */
export function maintenanceIssue(alarm: Pick<Alarm, 'rule' | 'code'>): MaintenanceIssue | undefined {
  return byRule[alarm.rule] ?? (alarm.code.cid !== undefined ? byCid[alarm.code.cid] : undefined) ?? (alarm.code.sia !== undefined ? bySia[alarm.code.sia] : undefined);
}

export interface MaintenanceDecision {
  issue: MaintenanceIssue;
  status: 'open' | 'closed';
  alarm: Alarm;
}

/**
 * Decide on one `alarm` bus message: only the first announcement of an alarm (state `raised`)
 * counts — the later lifecycle messages of the same alarm (queued, sent…) are not new work.
 */
export function maintenanceDecision(alarm: Alarm): MaintenanceDecision | undefined {
  if (alarm.state !== 'raised') return undefined;
  const issue = maintenanceIssue(alarm);
  if (issue === undefined) return undefined;
  return { issue, status: alarm.kind === 'restore' ? 'closed' : 'open', alarm };
}
