/**
 * Duress (PURE). A duress credential opens the door as normal — the intruder must not notice —
 * and raises a silent, latched emergency alarm to the police (CID 121 / SIA HA).
 *
 * Locks that know duress (the shipped lock: `last_result: duress`) raise it through their
 * profile's own `duress` alarm in the same read. This rule adds it for duress the lock does not
 * know about: a credential flagged `duress` in the registry (e.g. a card at an entrance
 * controller). When the profile's duress alarm was (re)triggered for this very pass, it is not
 * raised again.
 */
import type { AccessRecord } from '../types.js';
import { passFields } from './record-fields.js';
import type { RaiseDecision } from './types.js';

/** How close the profile's duress trigger must be to the pass to count as the same one, ms. */
export const SAME_PASS_MS = 5000;

export function duressDecision(
  record: AccessRecord,
  opts: { enabled: boolean; /** When the door's profile duress alarm last (re)triggered, if it is active. */ profileTriggeredAt?: number | undefined },
): RaiseDecision | undefined {
  if (!opts.enabled || !record.duress) return undefined;
  if (opts.profileTriggeredAt !== undefined && Math.abs(opts.profileTriggeredAt - record.ts) <= SAME_PASS_MS) return undefined;
  return { action: 'raise', rule: 'duress', door: record.door, ts: record.ts, fields: passFields(record) };
}
