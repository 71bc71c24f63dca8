/**
 * Which door alarms a device profile already raises by itself, so the access rules complement
 * it instead of raising the same thing twice (PURE). A profile "covers" a concern when one of its
 * events carries an alarm with the concern's Contact ID or SIA code:
 *
 *   forced open        CID 423 / SIA DF   (lock `door_forced`, controller `forced_open`)
 *   held open          CID 426 / SIA DN   (controller `door_held_open`)
 *   duress             CID 121 / SIA HA   (lock `duress`)
 *   invalid credential CID 421 / SIA JA   (lock `invalid_credential`: consecutive denials)
 *
 * It also finds the door's contact point (`door` / `contact`, labelled open/closed) and its
 * bolt/lock point (`bolt` / `lock`, labelled locked/unlocked).
 */
import type { Profile } from '../../profiles/schema.js';

export interface ProfileCoverage {
  /** Event ids of the profile's own alarm for each concern (undefined: the profile has none). */
  forced?: string;
  heldOpen?: string;
  duress?: string;
  invalidCredential?: string;
  /** Point that says whether the door is open (value `open`). */
  doorPoint?: string;
  /** Point that says whether the bolt is thrown (value `locked`). */
  lockPoint?: string;
}

const DOOR_POINTS = ['door', 'contact'];
const LOCK_POINTS = ['bolt', 'lock'];

const cache = new WeakMap<Profile, ProfileCoverage>();

export function profileCoverage(profile: Profile | undefined): ProfileCoverage {
  if (!profile) return { doorPoint: 'door' };
  let c = cache.get(profile);
  if (c) return c;
  c = {};
  for (const e of profile.events) {
    const a = e.alarm;
    if (!a) continue;
    if ((a.cid === 423 || a.sia === 'DF') && c.forced === undefined) c.forced = e.id;
    else if ((a.cid === 426 || a.sia === 'DN') && c.heldOpen === undefined) c.heldOpen = e.id;
    else if ((a.cid === 121 || a.sia === 'HA') && c.duress === undefined) c.duress = e.id;
    else if (a.sia === 'JA' && c.invalidCredential === undefined) c.invalidCredential = e.id;
  }
  const labelled = (ids: string[], label: string) =>
    ids.find((id) => profile.points.some((p) => p.id === id && (p.map === undefined || Object.values(p.map).includes(label))));
  const door = labelled(DOOR_POINTS, 'open');
  const lock = labelled(LOCK_POINTS, 'locked');
  if (door !== undefined) c.doorPoint = door;
  if (lock !== undefined) c.lockPoint = lock;
  cache.set(profile, c);
  return c;
}
