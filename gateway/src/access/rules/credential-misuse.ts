/**
 * A credential that should no longer open anything is presented (PURE): lost, returned or
 * cancelled, or outside its lease (expired / not yet valid). One warning per credential
 * (`credential_<state>:<credential>`), granted or denied alike: a lock that still opens for a
 * cancelled slot needs the slot deleted, which is exactly what the manager must learn.
 */
import type { AccessRecord, Resolution } from '../types.js';
import type { AccessRuleId } from './catalog.js';
import { passFields } from './record-fields.js';
import type { RaiseDecision } from './types.js';

const ruleFor: Partial<Record<Resolution, AccessRuleId>> = {
  expired: 'credential_expired',
  lost: 'credential_lost',
  returned: 'credential_returned',
  cancelled: 'credential_cancelled',
};

export function credentialMisuseDecision(record: AccessRecord, enabled: boolean): RaiseDecision | undefined {
  const rule = ruleFor[record.resolution];
  if (!enabled || rule === undefined) return undefined;
  const d: RaiseDecision = { action: 'raise', rule, door: record.door, ts: record.ts, fields: passFields(record) };
  if (record.credential !== undefined) d.subject = record.credential;
  return d;
}
