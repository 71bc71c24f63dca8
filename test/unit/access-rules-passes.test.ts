import { describe, expect, it } from 'vitest';
import { credentialMisuseDecision } from '../../gateway/src/access/rules/credential-misuse.js';
import { duressDecision } from '../../gateway/src/access/rules/duress.js';
import { InvalidBurstRule } from '../../gateway/src/access/rules/invalid-burst.js';
import { inNightWindow, LateNightRule } from '../../gateway/src/access/rules/late-night.js';
import { LocalTime } from '../../gateway/src/access/rules/local-time.js';
import { maintenanceDecision, maintenanceIssue } from '../../gateway/src/access/rules/maintenance.js';
import { MultiDoorRule } from '../../gateway/src/access/rules/multi-door.js';
import { NotSeenRule } from '../../gateway/src/access/rules/not-seen.js';
import { strangerDecision } from '../../gateway/src/access/rules/stranger.js';
import type { RegisteredTenant } from '../../gateway/src/access/rules/types.js';
import type { AccessRecord } from '../../gateway/src/access/types.js';
import type { Alarm } from '../../gateway/src/core/types.js';

/** 2026-03-02 00:00 in Shanghai (UTC+8). */
const MIDNIGHT = Date.UTC(2026, 2, 1, 16, 0);
const H = 3_600_000;
const MIN = 60_000;
const DAY = 86_400_000;
let seq = 0;

function pass(p: Partial<AccessRecord> & { ts: number }): AccessRecord {
  return {
    id: `P${++seq}`,
    site: 'v1',
    door: 'L-101',
    method: 'fingerprint',
    result: 'granted',
    resolution: 'registered',
    credential: 'C-1',
    tenant: 'T-1',
    room: 'R-101',
    building: 'B1',
    slot: 3,
    duress: false,
    ...p,
  };
}

describe('duress', () => {
  it('raises a duress alarm for a duress pass the profile did not raise itself', () => {
    const r = pass({ ts: MIDNIGHT, duress: true });
    expect(duressDecision(r, { enabled: true })).toEqual({
      action: 'raise',
      rule: 'duress',
      door: 'L-101',
      ts: MIDNIGHT,
      fields: { access: r.id, method: 'fingerprint', result: 'granted', resolution: 'registered', slot: 3, credential: 'C-1', tenant: 'T-1', room: 'R-101', building: 'B1' },
    });
  });

  it('does not raise twice when the lock profile triggered duress for this pass; does for an older trigger', () => {
    const r = pass({ ts: MIDNIGHT, duress: true });
    expect(duressDecision(r, { enabled: true, profileTriggeredAt: MIDNIGHT })).toBeUndefined();
    expect(duressDecision(r, { enabled: true, profileTriggeredAt: MIDNIGHT - 4000 })).toBeUndefined();
    expect(duressDecision(r, { enabled: true, profileTriggeredAt: MIDNIGHT - 60_000 })?.rule).toBe('duress');
  });

  it('nothing for normal passes or when disabled', () => {
    expect(duressDecision(pass({ ts: MIDNIGHT }), { enabled: true })).toBeUndefined();
    expect(duressDecision(pass({ ts: MIDNIGHT, duress: true }), { enabled: false })).toBeUndefined();
  });
});

describe('credential misuse and strangers', () => {
  it('one rule per state, keyed by the credential', () => {
    for (const resolution of ['expired', 'lost', 'returned', 'cancelled'] as const) {
      const d = credentialMisuseDecision(pass({ ts: MIDNIGHT, resolution, result: 'denied' }), true);
      expect(d).toMatchObject({ action: 'raise', rule: `credential_${resolution}`, subject: 'C-1', door: 'L-101', fields: { resolution, result: 'denied' } });
    }
    for (const resolution of ['registered', 'unregistered', 'no_credential'] as const) expect(credentialMisuseDecision(pass({ ts: MIDNIGHT, resolution }), true)).toBeUndefined();
    expect(credentialMisuseDecision(pass({ ts: MIDNIGHT, resolution: 'lost' }), false)).toBeUndefined();
  });

  it('a stranger carries the card hash (its only identity), no tenant', () => {
    const r = pass({ ts: MIDNIGHT, resolution: 'unregistered', result: 'denied', method: 'card', cardHash: 'ab'.repeat(32), credential: undefined, tenant: undefined, slot: undefined });
    const d = strangerDecision(r, true);
    expect(d).toMatchObject({ action: 'raise', rule: 'stranger', door: 'L-101', fields: { cardHash: 'ab'.repeat(32), resolution: 'unregistered' } });
    expect(d!.subject).toBeUndefined();
    expect(d!.fields.tenant).toBeUndefined();
    expect(strangerDecision(pass({ ts: MIDNIGHT }), true)).toBeUndefined();
    expect(strangerDecision(r, false)).toBeUndefined();
  });
});

describe('invalid-credential burst', () => {
  const settings = { enabled: true, count: 5, windowMin: 2 };
  const denied = (ts: number, door = 'L-101') => pass({ ts, door, result: 'denied', resolution: 'unregistered', tenant: undefined, credential: undefined });

  it('fires on the 5th denial within 2 minutes, then counts afresh', () => {
    const r = new InvalidBurstRule();
    const decisions = [0, 20, 40, 60, 80].map((sec) => r.evaluate(denied(MIDNIGHT + sec * 1000), settings));
    expect(decisions.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(decisions[4]).toMatchObject({ rule: 'invalid_credential_burst', door: 'L-101', ts: MIDNIGHT + 80_000, fields: { denials: 5, firstDenialAt: MIDNIGHT, windowMin: 2 } });
    // The 6th denial right after does not fire again; five more do.
    expect(r.evaluate(denied(MIDNIGHT + 90_000), settings)).toBeUndefined();
    const more = [100, 110, 120, 130].map((sec) => r.evaluate(denied(MIDNIGHT + sec * 1000), settings));
    expect(more.filter(Boolean)).toHaveLength(1);
  });

  it('denials spread wider than the window, granted passes and other doors do not add up', () => {
    const r = new InvalidBurstRule();
    for (const sec of [0, 40, 80, 120, 160, 200, 240]) expect(r.evaluate(denied(MIDNIGHT + sec * 1000), settings)).toBeUndefined();
    const r2 = new InvalidBurstRule();
    for (let i = 0; i < 10; i++) expect(r2.evaluate(pass({ ts: MIDNIGHT + i * 1000 }), settings)).toBeUndefined();
    const r3 = new InvalidBurstRule();
    for (let i = 0; i < 8; i++) expect(r3.evaluate(denied(MIDNIGHT + i * 1000, `L-${i % 2}`), settings)).toBeUndefined();
  });

  it('is suppressed while the lock\'s own invalid-credential alarm is active (asked only at the threshold)', () => {
    const r = new InvalidBurstRule();
    let asked = 0;
    const suppressed = () => {
      asked++;
      return true;
    };
    for (let i = 0; i < 5; i++) expect(r.evaluate(denied(MIDNIGHT + i * 1000), settings, suppressed)).toBeUndefined();
    expect(asked).toBe(1);
  });
});

describe('late-night entries (Asia/Shanghai)', () => {
  const settings = { enabled: true, fromHour: 0, toHour: 5, count: 3, days: 7 };

  it('counts granted entries between 00:00 and 05:00 local, fires at the 3rd within 7 days', () => {
    const rule = new LateNightRule(new LocalTime('Asia/Shanghai'));
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 1 * H }), settings)).toBeUndefined(); // 01:00 day 1
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 12 * H }), settings)).toBeUndefined(); // noon: not counted
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 23 * H + 59 * MIN }), settings)).toBeUndefined(); // 23:59: not counted
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 2 * DAY + 4 * H + 59 * MIN }), settings)).toBeUndefined(); // 04:59 day 3
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 3 * DAY + 5 * H }), settings)).toBeUndefined(); // 05:00: window ended
    const d = rule.evaluate(pass({ ts: MIDNIGHT + 6 * DAY + 3 * H }), settings); // 03:00 day 7
    expect(d).toMatchObject({ rule: 'late_night_entries', subject: 'T-1', fields: { entries: 3, firstEntryAt: MIDNIGHT + 1 * H, localHour: 3, days: 7 } });
  });

  it('entries older than the window, denied attempts and passes without a subject do not count', () => {
    const rule = new LateNightRule(new LocalTime('Asia/Shanghai'));
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 1 * H }), settings)).toBeUndefined();
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 1 * DAY + 1 * H }), settings)).toBeUndefined();
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 7 * DAY + 2 * H }), settings)).toBeUndefined(); // the first is now > 7 days old
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 7 * DAY + 3 * H, result: 'denied' }), settings)).toBeUndefined();
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 7 * DAY + 3 * H, method: 'remote', resolution: 'no_credential', tenant: undefined, credential: undefined }), settings)).toBeUndefined();
    // Another tenant's entries are their own.
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 7 * DAY + 4 * H, tenant: 'T-2', credential: 'C-2' }), settings)).toBeUndefined();
    // Day 1, day 7 02:00 and day 7 04:30 are within 7 days: the third.
    expect(rule.evaluate(pass({ ts: MIDNIGHT + 7 * DAY + 4 * H + 30 * MIN }), settings)?.fields.entries).toBe(3);
  });

  it('uses the site time zone: 01:00 in Shanghai is 17:00 UTC', () => {
    const shanghai = new LateNightRule(new LocalTime('Asia/Shanghai'));
    const utc = new LateNightRule(new LocalTime('UTC'));
    const one = { ...settings, count: 1 };
    expect(shanghai.evaluate(pass({ ts: MIDNIGHT + 1 * H }), one)).toBeDefined();
    expect(utc.evaluate(pass({ ts: MIDNIGHT + 1 * H }), one)).toBeUndefined();
  });

  it('windows may wrap midnight', () => {
    expect(inNightWindow(23, 23, 5)).toBe(true);
    expect(inNightWindow(4, 23, 5)).toBe(true);
    expect(inNightWindow(5, 23, 5)).toBe(false);
    expect(inNightWindow(22, 23, 5)).toBe(false);
    expect(inNightWindow(0, 0, 5)).toBe(true);
  });
});

describe('one credential at several doors', () => {
  const settings = { enabled: true, doors: 3, windowMin: 10 };

  it('fires when the third different door sees the credential within 10 minutes', () => {
    const r = new MultiDoorRule();
    expect(r.evaluate(pass({ ts: MIDNIGHT, door: 'GATE-B1' }), settings)).toBeUndefined();
    expect(r.evaluate(pass({ ts: MIDNIGHT + 1 * MIN, door: 'L-101' }), settings)).toBeUndefined();
    expect(r.evaluate(pass({ ts: MIDNIGHT + 2 * MIN, door: 'L-101' }), settings)).toBeUndefined(); // same door again
    const d = r.evaluate(pass({ ts: MIDNIGHT + 9 * MIN, door: 'GATE-B2', result: 'denied' }), settings);
    expect(d).toMatchObject({ rule: 'multi_door', subject: 'C-1', door: 'GATE-B2', fields: { doors: 'GATE-B1,L-101,GATE-B2', firstUseAt: MIDNIGHT } });
  });

  it('walking home (entrance + own door) is not flagged; doors far apart in time are not either', () => {
    const r = new MultiDoorRule();
    for (let day = 0; day < 5; day++) {
      expect(r.evaluate(pass({ ts: MIDNIGHT + day * DAY, door: 'GATE-B1' }), settings)).toBeUndefined();
      expect(r.evaluate(pass({ ts: MIDNIGHT + day * DAY + MIN, door: 'L-101' }), settings)).toBeUndefined();
    }
    const slow = new MultiDoorRule();
    expect(slow.evaluate(pass({ ts: MIDNIGHT, door: 'A' }), settings)).toBeUndefined();
    expect(slow.evaluate(pass({ ts: MIDNIGHT + 6 * MIN, door: 'B' }), settings)).toBeUndefined();
    expect(slow.evaluate(pass({ ts: MIDNIGHT + 11 * MIN, door: 'C' }), settings)).toBeUndefined();
  });

  it('an unregistered card is followed by its hash', () => {
    const r = new MultiDoorRule();
    const card = (door: string, i: number) => pass({ ts: MIDNIGHT + i * MIN, door, resolution: 'unregistered', result: 'denied', credential: undefined, tenant: undefined, cardHash: 'cd'.repeat(32) });
    r.evaluate(card('A', 0), settings);
    r.evaluate(card('B', 1), settings);
    expect(r.evaluate(card('C', 2), settings)).toMatchObject({ subject: `card-${'cd'.repeat(8)}`, fields: { cardHash: 'cd'.repeat(32) } });
  });
});

describe('tenant not seen (人房不一致)', () => {
  const settings = () => ({ enabled: true, days: 7 });
  const tenants: RegisteredTenant[] = [
    { tenant: 'T-1', room: 'R-101', building: 'B1', door: 'L-101', since: MIDNIGHT - 60 * DAY },
    { tenant: 'T-2', room: 'R-102', building: 'B1', door: 'L-102', since: MIDNIGHT - 60 * DAY },
    { tenant: 'T-3', room: 'R-103', building: 'B1', since: MIDNIGHT - 3 * DAY }, // new, never seen yet
    { tenant: 'T-4', room: 'R-104', building: 'B1', door: 'L-104', since: MIDNIGHT - 30 * DAY }, // never seen
  ];
  const last: Record<string, number> = { 'T-1': MIDNIGHT - 1 * DAY, 'T-2': MIDNIGHT - 8 * DAY };

  it('raises for tenants absent 7 days or more (or never seen since their lease began), at their room door', () => {
    const rule = new NotSeenRule();
    const out = rule.check(MIDNIGHT, tenants, (t) => last[t], settings);
    expect(out).toEqual([
      { action: 'raise', rule: 'tenant_not_seen', door: 'L-102', subject: 'T-2', ts: MIDNIGHT, fields: { tenant: 'T-2', room: 'R-102', building: 'B1', lastSeen: MIDNIGHT - 8 * DAY, since: MIDNIGHT - 60 * DAY, absentDays: 8, days: 7 } },
      { action: 'raise', rule: 'tenant_not_seen', door: 'L-104', subject: 'T-4', ts: MIDNIGHT, fields: { tenant: 'T-4', room: 'R-104', building: 'B1', lastSeen: null, since: MIDNIGHT - 30 * DAY, absentDays: 30, days: 7 } },
    ]);
    // The next day's check raises nothing new.
    expect(rule.check(MIDNIGHT + DAY, tenants, (t) => last[t], settings)).toEqual([]);
  });

  it('exactly N days is absent; a minute less is not', () => {
    const rule = new NotSeenRule();
    const one = [tenants[0]!];
    expect(rule.check(MIDNIGHT, one, () => MIDNIGHT - 7 * DAY + MIN, settings)).toEqual([]);
    expect(rule.check(MIDNIGHT, one, () => MIDNIGHT - 7 * DAY, settings)).toHaveLength(1);
  });

  it('a granted pass ends the warning at once; a denied one does not', () => {
    const rule = new NotSeenRule();
    rule.check(MIDNIGHT, tenants, (t) => last[t], settings);
    expect(rule.seen(pass({ ts: MIDNIGHT + H, tenant: 'T-2', door: 'L-102', result: 'denied' }))).toBeUndefined();
    expect(rule.seen(pass({ ts: MIDNIGHT + 2 * H, tenant: 'T-2', door: 'GATE' }))).toEqual({ action: 'clear', rule: 'tenant_not_seen', door: 'L-102', subject: 'T-2', ts: MIDNIGHT + 2 * H });
    expect(rule.seen(pass({ ts: MIDNIGHT + 3 * H, tenant: 'T-2' }))).toBeUndefined();
  });

  it('a tenant who no longer holds an active credential (moved out properly) has the warning ended', () => {
    const rule = new NotSeenRule();
    rule.check(MIDNIGHT, tenants, (t) => last[t], settings);
    const out = rule.check(MIDNIGHT + DAY, tenants.filter((t) => t.tenant !== 'T-4'), (t) => last[t], settings);
    expect(out).toEqual([{ action: 'clear', rule: 'tenant_not_seen', door: 'L-104', subject: 'T-4', ts: MIDNIGHT + DAY }]);
  });

  it('uses the earliest lease of a tenant listed twice, and a lease newer than the last pass', () => {
    const rule = new NotSeenRule();
    const twice: RegisteredTenant[] = [
      { tenant: 'T-9', room: 'R-9', door: 'L-9', since: MIDNIGHT - 2 * DAY },
      { tenant: 'T-9', room: 'R-9', door: 'L-9', since: MIDNIGHT - 20 * DAY },
    ];
    expect(rule.check(MIDNIGHT, twice, () => undefined, settings)).toHaveLength(1);
    // Seen 30 days ago under an old lease, new lease began 2 days ago: not absent yet.
    const moved = new NotSeenRule();
    expect(moved.check(MIDNIGHT, [{ tenant: 'T-8', room: 'R-8', since: MIDNIGHT - 2 * DAY }], () => MIDNIGHT - 30 * DAY, settings)).toEqual([]);
  });
});

describe('maintenance mapping', () => {
  const alarm = (p: Partial<Alarm>): Alarm => ({
    id: 'A1', site: 'v1', device: 'L-101', profile: 'generic-rs485-fingerprint-lock', rule: 'tamper', name: { zh: '防拆报警', en: 'Tamper' }, code: { cid: 137, sia: 'TA' },
    severity: 'critical', kind: 'alarm', latch: false, silent: false, state: 'raised', raisedAt: MIDNIGHT, updatedAt: MIDNIGHT, fields: {}, ...p,
  });

  it('tamper, jammed bolt and low battery are maintenance, by rule id or by code', () => {
    expect(maintenanceIssue(alarm({}))).toBe('tamper');
    expect(maintenanceIssue(alarm({ rule: 'jammed_bolt', code: { cid: 380, sia: 'BT' } }))).toBe('jammed_bolt');
    expect(maintenanceIssue(alarm({ rule: 'low_battery', code: { cid: 302, sia: 'YT' } }))).toBe('low_battery');
    expect(maintenanceIssue(alarm({ rule: 'battery_weak', code: { cid: 384, sia: 'XT' } }))).toBe('low_battery');
    expect(maintenanceIssue(alarm({ rule: 'door_forced', code: { cid: 423, sia: 'DF' } }))).toBeUndefined();
    expect(maintenanceIssue(alarm({ rule: 'duress', code: { cid: 121, sia: 'HA' } }))).toBeUndefined();
  });

  it('only the first announcement of an alarm is new work; its restore closes it', () => {
    expect(maintenanceDecision(alarm({}))).toMatchObject({ issue: 'tamper', status: 'open' });
    expect(maintenanceDecision(alarm({ state: 'queued' }))).toBeUndefined();
    expect(maintenanceDecision(alarm({ state: 'reset' }))).toBeUndefined();
    expect(maintenanceDecision(alarm({ id: 'A2', kind: 'restore', restores: 'A1', code: { cid: 137, sia: 'TR' } }))).toMatchObject({ issue: 'tamper', status: 'closed' });
  });
});
