/** Comparing point values (PURE), shared by last-value state (report by exception) and the rules engine (edges). */
import type { PointValue } from './types.js';

/**
 * The same value: identical scalars, or bitfields with the same flags set to the same values.
 * Undefined (never observed) equals only undefined. Counted and compared without key arrays:
 * this runs for every point of every read.
 */
export function samePointValue(a: PointValue | undefined, b: PointValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined || typeof a !== 'object' || typeof b !== 'object') return false;
  let na = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    na++;
  }
  let nb = 0;
  for (const _k in b) nb++;
  return na === nb;
}
