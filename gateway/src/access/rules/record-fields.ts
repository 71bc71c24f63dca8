/**
 * The fields an access-rule alarm carries about the pass that caused it (PURE). Pseudonymous ids
 * only: tenant and credential ids, never a name or an ID number; the card hash only where it is
 * the one thing that identifies an unregistered card.
 */
import type { PointValue } from '../../core/types.js';
import type { AccessRecord } from '../types.js';

export function passFields(r: AccessRecord, opts: { cardHash?: boolean } = {}): Record<string, PointValue> {
  const f: Record<string, PointValue> = { access: r.id, method: r.method, result: r.result, resolution: r.resolution };
  if (r.slot !== undefined) f.slot = r.slot;
  if (r.credential !== undefined) f.credential = r.credential;
  if (r.tenant !== undefined) f.tenant = r.tenant;
  if (r.room !== undefined) f.room = r.room;
  if (r.building !== undefined) f.building = r.building;
  if (opts.cardHash && r.cardHash !== undefined) f.cardHash = r.cardHash;
  return f;
}

/** Who a pattern rule follows: the tenant when resolved, else the credential, else the card. */
export function subjectOf(r: AccessRecord): string | undefined {
  if (r.tenant !== undefined) return r.tenant;
  if (r.credential !== undefined) return r.credential;
  if (r.cardHash !== undefined) return `card-${r.cardHash.slice(0, 16)}`;
  return undefined;
}
