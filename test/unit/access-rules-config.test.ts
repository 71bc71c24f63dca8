import { describe, expect, it } from 'vitest';
import { accessRulesSchema, ThresholdResolver } from '../../gateway/src/access/rules/config.js';
import { LocalTime } from '../../gateway/src/access/rules/local-time.js';

describe('access rules config', () => {
  it('fills every threshold with its documented default', () => {
    const c = accessRulesSchema.parse({});
    expect(c).toEqual({
      doorForced: { enabled: true },
      heldOpen: { enabled: true, warnAfterS: 60, alarmAfterS: 300 },
      duress: { enabled: true },
      invalidBurst: { enabled: true, count: 5, windowMin: 2 },
      credentialMisuse: { enabled: true },
      stranger: { enabled: true },
      notSeen: { enabled: true, days: 7 },
      lateNight: { enabled: true, fromHour: 0, toHour: 5, count: 3, days: 7 },
      multiDoor: { enabled: true, doors: 3, windowMin: 10 },
      maintenance: { enabled: true },
      notSeenCheckAt: '03:00',
      warningHoldMin: 30,
      buildings: {},
    });
  });

  it('lays a building override over the site values, field by field', () => {
    const c = accessRulesSchema.parse({
      heldOpen: { warnAfterS: 30 },
      notSeen: { days: 10 },
      buildings: { B7: { heldOpen: { alarmAfterS: 900 }, stranger: { enabled: false } } },
    });
    const r = new ThresholdResolver(c);
    expect(r.for('B7').heldOpen).toEqual({ enabled: true, warnAfterS: 30, alarmAfterS: 900 });
    expect(r.for('B7').stranger.enabled).toBe(false);
    expect(r.for('B7').notSeen.days).toBe(10);
    // Other buildings and unknown buildings get the site values.
    expect(r.for('B1').heldOpen).toEqual({ enabled: true, warnAfterS: 30, alarmAfterS: 300 });
    expect(r.for(undefined).stranger.enabled).toBe(true);
    // Cached: the same object each time (the rules ask on every pass).
    expect(r.for('B7')).toBe(r.for('B7'));
  });

  it('refuses contradictions and unknown keys with the path that is wrong', () => {
    const held = accessRulesSchema.safeParse({ buildings: { B7: { heldOpen: { alarmAfterS: 30 } } } });
    expect(held.success).toBe(false);
    expect(held.error!.issues[0]).toMatchObject({ path: ['buildings', 'B7', 'heldOpen', 'alarmAfterS'], message: 'alarmAfterS (30) must be above warnAfterS (60)' });
    const unknown = accessRulesSchema.safeParse({ buildings: { B7: { heldOpen: { warnAfter: 30 } } } });
    expect(unknown.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: ['buildings', 'B7', 'heldOpen'] });
    const tz = accessRulesSchema.safeParse({ timezone: 'Mars/Olympus' });
    expect(tz.error!.issues[0]).toMatchObject({ path: ['timezone'] });
    const at = accessRulesSchema.safeParse({ notSeenCheckAt: '25:00' });
    expect(at.error!.issues[0]).toMatchObject({ path: ['notSeenCheckAt'], message: 'expected HH:MM (24 h)' });
    const night = accessRulesSchema.safeParse({ lateNight: { fromHour: 3, toHour: 3 } });
    expect(night.error!.issues[0]).toMatchObject({ path: ['lateNight', 'toHour'] });
    const burst = accessRulesSchema.safeParse({ invalidBurst: { count: 1 } });
    expect(burst.error!.issues[0]).toMatchObject({ path: ['invalidBurst', 'count'] });
  });

  it('allows turning a held-open stage off with 0', () => {
    const c = accessRulesSchema.parse({ heldOpen: { warnAfterS: 0, alarmAfterS: 20 } });
    expect(c.heldOpen).toEqual({ enabled: true, warnAfterS: 0, alarmAfterS: 20 });
  });
});

describe('LocalTime', () => {
  const shanghai = new LocalTime('Asia/Shanghai');

  it('reads Shanghai wall time (UTC+8, no DST) with ISO weekdays', () => {
    // 2026-03-01T18:30:00Z = 2026-03-02 02:30 Monday in Shanghai.
    const ts = Date.UTC(2026, 2, 1, 18, 30);
    expect(shanghai.parts(ts)).toMatchObject({ year: 2026, month: 3, day: 2, hour: 2, minute: 30, weekday: 1 });
    expect(shanghai.hour(ts)).toBe(2);
    expect(shanghai.offsetMs(ts)).toBe(8 * 3_600_000);
    // Sunday 23:59 local.
    expect(shanghai.parts(Date.UTC(2026, 2, 1, 15, 59)).weekday).toBe(7);
  });

  it('finds the next local hh:mm, today or tomorrow', () => {
    const ts = Date.UTC(2026, 2, 1, 18, 30); // 02:30 local
    expect(shanghai.nextAt(ts, 3, 0)).toBe(Date.UTC(2026, 2, 1, 19, 0)); // 03:00 today
    expect(shanghai.nextAt(Date.UTC(2026, 2, 1, 19, 0), 3, 0)).toBe(Date.UTC(2026, 2, 2, 19, 0)); // exactly then -> tomorrow
  });

  it('follows daylight saving time where the zone has it', () => {
    const berlin = new LocalTime('Europe/Berlin');
    // 2026-03-29 clocks jump from 02:00 to 03:00 (UTC+1 -> UTC+2).
    expect(berlin.offsetMs(Date.UTC(2026, 2, 29, 0, 59))).toBe(3_600_000);
    expect(berlin.offsetMs(Date.UTC(2026, 2, 29, 1, 0))).toBe(7_200_000);
    expect(berlin.hour(Date.UTC(2026, 2, 29, 1, 0))).toBe(3);
    // 04:00 local on the jump day is 02:00 UTC.
    expect(berlin.nextAt(Date.UTC(2026, 2, 28, 23, 0), 4, 0)).toBe(Date.UTC(2026, 2, 29, 2, 0));
    // 02:30 does not exist that day: it runs at 03:30 local (01:30 UTC), as Temporal does.
    expect(berlin.nextAt(Date.UTC(2026, 2, 29, 0, 0), 2, 30)).toBe(Date.UTC(2026, 2, 29, 1, 30));
    // 02:30 on the autumn night that has it twice runs at the first one (00:30 UTC, still UTC+2).
    expect(berlin.nextAt(Date.UTC(2026, 9, 24, 12, 0), 2, 30)).toBe(Date.UTC(2026, 9, 25, 0, 30));
  });
});
