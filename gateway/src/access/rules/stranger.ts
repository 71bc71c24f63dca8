/**
 * Unregistered credential: a stranger (PURE). Every such pass is a `stranger` event (the
 * runner stores and publishes it), and a warning at the door; strangers at the same door while
 * the warning is active re-trigger it rather than raising one warning per attempt.
 */
import type { AccessRecord } from '../types.js';
import { passFields } from './record-fields.js';
import type { RaiseDecision } from './types.js';

export function strangerDecision(record: AccessRecord, enabled: boolean): RaiseDecision | undefined {
  if (!enabled || record.resolution !== 'unregistered') return undefined;
  return { action: 'raise', rule: 'stranger', door: record.door, ts: record.ts, fields: passFields(record, { cardHash: true }) };
}
