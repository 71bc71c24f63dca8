/**
 * What each access rule raises: name, severity, Contact ID / SIA code, and how its alarm ends.
 * Pure data; docs/access-rules.md is the same table in words (keep them together).
 *
 * Codes: the standard ones where one fits (DC-05 Contact ID, DC-03 SIA). Where no code names
 * the situation, the nearest access-class code is used and the rule id says why; the
 * 人房不一致 check has no code at all (it is an administrative anomaly, not something to dispatch
 * on; a DC-09 path would send it as 140/UA if a site routes warnings there).
 *
 * How an alarm ends:
 *  - `condition`: ends when its condition ends (door closed, tenant seen again), with a restore
 *    where the code has one;
 *  - `momentary`: the thing happened at an instant (a stranger's card); the warning stays active
 *    for `warningHoldMin` and then ends by itself, and the same rule at the same place meanwhile
 *    re-triggers it (counted by the alarm service) instead of raising another;
 *  - `latched`: stays until a person resets it (duress, GB 50394).
 */
import type { AlarmCode, Severity } from '../../core/types.js';

export const accessRuleIds = [
  'door_forced',
  'door_held_open',
  'door_held_open_alarm',
  'duress',
  'invalid_credential_burst',
  'credential_expired',
  'credential_lost',
  'credential_returned',
  'credential_cancelled',
  'stranger',
  'tenant_not_seen',
  'late_night_entries',
  'multi_door',
] as const;
export type AccessRuleId = (typeof accessRuleIds)[number];

/** Where a rule's alarms belong when people (and the 三高 report) sort them. */
export type AccessRuleCategory = 'intrusion' | 'duress' | 'credential' | 'stranger' | 'occupancy' | 'pattern' | 'maintenance';

export interface AccessRuleDef {
  id: AccessRuleId;
  name: { zh: string; en: string };
  severity: Severity;
  code: AlarmCode;
  /** SIA code of the restore, for `condition` rules whose code has one. */
  restoreSia?: string;
  ending: 'condition' | 'momentary' | 'latched';
  silent?: boolean;
  category: AccessRuleCategory;
}

const defs: readonly AccessRuleDef[] = [
  { id: 'door_forced', name: { zh: '强行开门', en: 'Door forced open' }, severity: 'critical', code: { cid: 423, sia: 'DF' }, restoreSia: 'DR', ending: 'condition', category: 'intrusion' },
  { id: 'door_held_open', name: { zh: '门长时间未关', en: 'Door held open' }, severity: 'warning', code: { cid: 426, sia: 'DN' }, restoreSia: 'DR', ending: 'condition', category: 'intrusion' },
  { id: 'door_held_open_alarm', name: { zh: '门长时间未关（报警）', en: 'Door held open too long' }, severity: 'critical', code: { cid: 426, sia: 'DN' }, restoreSia: 'DR', ending: 'condition', category: 'intrusion' },
  { id: 'duress', name: { zh: '胁迫开门', en: 'Duress' }, severity: 'emergency', code: { cid: 121, sia: 'HA' }, ending: 'latched', silent: true, category: 'duress' },
  { id: 'invalid_credential_burst', name: { zh: '短时间内多次验证失败', en: 'Burst of invalid credentials' }, severity: 'warning', code: { cid: 421, sia: 'JA' }, ending: 'momentary', category: 'credential' },
  { id: 'credential_expired', name: { zh: '使用过期凭证', en: 'Expired credential used' }, severity: 'warning', code: { cid: 421, sia: 'DD' }, ending: 'momentary', category: 'credential' },
  { id: 'credential_lost', name: { zh: '使用挂失凭证', en: 'Lost credential used' }, severity: 'warning', code: { cid: 421, sia: 'DD' }, ending: 'momentary', category: 'credential' },
  { id: 'credential_returned', name: { zh: '使用已退还凭证', en: 'Returned credential used' }, severity: 'warning', code: { cid: 421, sia: 'DD' }, ending: 'momentary', category: 'credential' },
  { id: 'credential_cancelled', name: { zh: '使用已注销凭证', en: 'Cancelled credential used' }, severity: 'warning', code: { cid: 421, sia: 'DD' }, ending: 'momentary', category: 'credential' },
  { id: 'stranger', name: { zh: '陌生凭证（未登记）', en: 'Stranger (unregistered credential)' }, severity: 'warning', code: { cid: 421, sia: 'DD' }, ending: 'momentary', category: 'stranger' },
  { id: 'tenant_not_seen', name: { zh: '人房不一致：登记住户长期未出现', en: 'Registered tenant not seen' }, severity: 'warning', code: {}, ending: 'condition', category: 'occupancy' },
  { id: 'late_night_entries', name: { zh: '频繁深夜出入', en: 'Frequent late-night entries' }, severity: 'warning', code: { cid: 422, sia: 'DG' }, ending: 'momentary', category: 'pattern' },
  { id: 'multi_door', name: { zh: '同一凭证短时多门使用', en: 'One credential at several doors' }, severity: 'warning', code: { cid: 422, sia: 'DG' }, ending: 'momentary', category: 'pattern' },
];

export const ACCESS_RULES: Readonly<Record<AccessRuleId, AccessRuleDef>> = Object.freeze(
  Object.fromEntries(defs.map((d) => [d.id, d])) as Record<AccessRuleId, AccessRuleDef>,
);

/**
 * The alarm `rule` of a decision: the rule id, or `<rule>:<subject>` when the rule watches one
 * tenant or credential (so two tenants of one room get two warnings, not one re-triggered).
 */
export function alarmRuleName(rule: AccessRuleId, subject?: string): string {
  return subject === undefined ? rule : `${rule}:${subject}`;
}

/** The access rule an alarm `rule` column came from (`tenant_not_seen:T-1` -> tenant_not_seen), or undefined. */
export function accessRuleOf(alarmRule: string): AccessRuleId | undefined {
  const colon = alarmRule.indexOf(':');
  const base = colon < 0 ? alarmRule : alarmRule.slice(0, colon);
  return (accessRuleIds as readonly string[]).includes(base) ? (base as AccessRuleId) : undefined;
}
