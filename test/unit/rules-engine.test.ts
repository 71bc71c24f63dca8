/**
 * The pure rules engine: every trigger form, `while`, `for`, `debounce`, hysteresis, first-value
 * behaviour and reset(), on small hand-written profiles where each expectation is worked out
 * from the rule's meaning (timestamps are plain milliseconds).
 */
import { describe, expect, it } from 'vitest';
import type { PointValue } from '../../gateway/src/core/types.js';
import { createRuleEngine, valueMatches } from '../../gateway/src/profiles/rules.js';
import type { RuleFiring } from '../../gateway/src/profiles/rules-types.js';
import { profileSchema, type ProfileInput } from '../../gateway/src/profiles/schema.js';

const name = { zh: '测试', en: 'test' };

const basePoints: ProfileInput['points'] = [
  { id: 'door', table: 'discrete', address: 0, type: 'bool', map: { '0': 'closed', '1': 'open' } },
  { id: 'bolt', table: 'discrete', address: 1, type: 'bool', map: { '0': 'unlocked', '1': 'locked' } },
  { id: 'raw_flag', table: 'discrete', address: 2, type: 'bool' },
  { id: 'level', table: 'input', address: 0, type: 'u16', scale: 0.1 },
  { id: 'seq', table: 'input', address: 1, type: 'u16' },
  { id: 'result', table: 'input', address: 2, type: 'enum', map: { '0': 'granted', '1': 'denied', '2': 'duress' } },
  { id: 'faults', table: 'input', address: 3, type: 'bitfield', bits: { '0': 'speaker', '1': 'power' } },
  { id: 'mode', table: 'holding', address: 0, type: 'enum', map: { '0': 'disarmed', '1': 'armed' } },
  { id: 'pushed', json: 'event.door', type: 'u16' },
];

type Events = NonNullable<ProfileInput['events']>;

function engine(events: Events) {
  const profile = profileSchema.parse({ id: 'test', name, kind: 'other', transport: ['modbus-rtu'], points: basePoints, events });
  return createRuleEngine(profile);
}

function ev(id: string, when: Events[number]['when'], extra: Partial<Events[number]> = {}): Events[number] {
  return { id, name, when, ...extra };
}

/** Compact view of firings: "id:phase@ts". */
function brief(firings: RuleFiring[]): string[] {
  return firings.map((f) => `${f.def.id}:${f.phase}@${f.ts}`);
}

/** Feed a sequence of [ts, values] and collect every firing. */
function run(e: ReturnType<typeof engine>, steps: Array<[number, Record<string, PointValue>]>): string[] {
  const out: string[] = [];
  for (const [ts, values] of steps) out.push(...brief(e.update(values, ts)));
  return out;
}

describe('becomes (edge)', () => {
  it('does not fire on the first value ever seen: a door already open did not just open', () => {
    const e = engine([ev('opened', { point: 'door', becomes: 'open' })]);
    expect(run(e, [[0, { door: 'open' }]])).toEqual([]);
  });

  it('fires start on the edge to the value and clear when it leaves', () => {
    const e = engine([ev('opened', { point: 'door', becomes: 'open' })]);
    expect(run(e, [[0, { door: 'closed' }], [100, { door: 'open' }], [200, { door: 'open' }], [300, { door: 'closed' }], [400, { door: 'closed' }]])).toEqual([
      'opened:start@100',
      'opened:clear@300',
    ]);
  });

  it('accepts raw numbers and booleans for labelled bool points', () => {
    const a = engine([ev('opened', { point: 'door', becomes: 1 })]);
    const b = engine([ev('opened', { point: 'door', becomes: true })]);
    for (const e of [a, b]) expect(run(e, [[0, { door: 'closed' }], [1, { door: 'open' }]])).toEqual(['opened:start@1']);
  });

  it('works on map-less bools', () => {
    const e = engine([ev('raised', { point: 'raw_flag', becomes: true })]);
    expect(run(e, [[0, { raw_flag: false }], [5, { raw_flag: true }], [6, { raw_flag: false }]])).toEqual(['raised:start@5', 'raised:clear@6']);
  });
});

describe('while', () => {
  const forced = () => engine([ev('forced', { point: 'door', becomes: 'open', while: { bolt: 'locked' } })]);

  it('fires the edge only when the condition holds at that moment ("door opened while the bolt is locked")', () => {
    const e = forced();
    expect(
      run(e, [
        [0, { door: 'closed', bolt: 'locked' }],
        [10, { bolt: 'unlocked' }],
        [20, { door: 'open' }], // a tenant: bolt withdrawn first
        [30, { door: 'closed' }],
        [40, { bolt: 'locked' }],
        [50, { door: 'open' }], // forced: bolt still thrown
      ]),
    ).toEqual(['forced:start@50']);
  });

  it('reads door and bolt from the same update', () => {
    const e = forced();
    expect(run(e, [[0, { door: 'closed', bolt: 'locked' }], [10, { door: 'open', bolt: 'unlocked' }]])).toEqual([]);
    const f = forced();
    expect(run(f, [[0, { door: 'closed', bolt: 'unlocked' }], [10, { door: 'open', bolt: 'locked' }]])).toEqual(['forced:start@10']);
  });

  it('does not clear a started rule when only the while condition stops holding', () => {
    const e = forced();
    expect(run(e, [[0, { door: 'closed', bolt: 'locked' }], [10, { door: 'open' }], [20, { bolt: 'unlocked' }], [30, { door: 'closed' }]])).toEqual([
      'forced:start@10',
      'forced:clear@30',
    ]);
  });

  it('treats an unknown while point as not holding', () => {
    const e = forced();
    expect(run(e, [[0, { door: 'closed' }], [10, { door: 'open' }]])).toEqual([]);
  });

  it('supports equals / not / above / below / flag objects, numbers and booleans', () => {
    const e = engine([
      ev('armed_seq', { point: 'seq', changes: true, while: { mode: { not: 'disarmed' } } }),
      ev('many', { point: 'seq', changes: true, while: { level: { above: 4, below: 10 } } }),
      ev('speaker', { point: 'seq', changes: true, while: { faults: { flag: 'speaker' } } }),
      ev('raw', { point: 'seq', changes: true, while: { raw_flag: true, result: 2 } }),
      ev('eq', { point: 'seq', changes: true, while: { mode: { equals: 1 } } }),
    ]);
    expect(run(e, [[0, { seq: 0, mode: 'disarmed', level: 5, faults: { speaker: false, power: true }, raw_flag: true, result: 'granted' }], [1, { seq: 1 }]])).toEqual([
      'many:start@1',
    ]);
    expect(run(e, [[2, { seq: 2, mode: 'armed', level: 12, faults: { speaker: true, power: false }, result: 'duress' }]])).toEqual([
      'armed_seq:start@2',
      'speaker:start@2',
      'raw:start@2',
      'eq:start@2',
    ]);
  });

  it('starts a level when its while condition becomes true later, with the trigger still true', () => {
    const e = engine([ev('armed_open', { point: 'door', equals: 'open', while: { mode: 'armed' } })]);
    expect(run(e, [[0, { door: 'open', mode: 'disarmed' }], [10, { mode: 'armed' }], [20, { mode: 'disarmed' }], [30, { door: 'closed' }]])).toEqual([
      'armed_open:start@10',
      'armed_open:clear@30',
    ]);
  });
});

describe('equals / flag (levels)', () => {
  it('fires at first sight when the condition is already true (smoke already present)', () => {
    const e = engine([ev('smoke', { point: 'door', equals: 'open' })]);
    expect(run(e, [[0, { door: 'open' }]])).toEqual(['smoke:start@0']);
  });

  it('fires on entering the state, once, and clears on leaving it', () => {
    const e = engine([ev('duress', { point: 'result', equals: 'duress' })]);
    expect(run(e, [[0, { result: 'granted' }], [1, { result: 'duress' }], [2, { result: 'duress' }], [3, { result: 'denied' }], [4, { result: 'granted' }]])).toEqual([
      'duress:start@1',
      'duress:clear@3',
    ]);
  });

  it('compares enum labels with raw numbers (equals: 2 is duress) and unknown values', () => {
    const e = engine([ev('by_raw', { point: 'result', equals: 2 })]);
    expect(run(e, [[0, { result: 'granted' }], [1, { result: 'duress' }]])).toEqual(['by_raw:start@1']);
    expect(valueMatches(basePoints[5] as never, 'unknown_7', 7)).toBe(true);
    expect(valueMatches(basePoints[5] as never, 'unknown_7', 8)).toBe(false);
  });

  it('flag fires when the named bit sets and clears when it resets, ignoring other bits', () => {
    const e = engine([ev('speaker', { point: 'faults', flag: 'speaker' })]);
    expect(
      run(e, [
        [0, { faults: { speaker: false, power: false } }],
        [1, { faults: { speaker: false, power: true } }],
        [2, { faults: { speaker: true, power: true } }],
        [3, { faults: { speaker: true, power: false } }],
        [4, { faults: { speaker: false, power: false } }],
      ]),
    ).toEqual(['speaker:start@2', 'speaker:clear@4']);
  });
});

describe('above / below with hysteresis', () => {
  it('starts above the threshold and clears only at threshold - hysteresis', () => {
    const e = engine([ev('gas', { point: 'level', above: 25, hysteresis: 5 })]);
    expect(
      run(e, [
        [0, { level: 20 }],
        [1, { level: 25 }], // not above
        [2, { level: 26 }],
        [3, { level: 22 }], // inside the hysteresis band: still active
        [4, { level: 20.1 }],
        [5, { level: 20 }], // <= 25 - 5: clear
        [6, { level: 24 }], // below the start threshold again
        [7, { level: 25.5 }],
      ]),
    ).toEqual(['gas:start@2', 'gas:clear@5', 'gas:start@7']);
  });

  it('without hysteresis clears as soon as the value is no longer above', () => {
    const e = engine([ev('hi', { point: 'level', above: 10 })]);
    expect(run(e, [[0, { level: 11 }], [1, { level: 10 }], [2, { level: 10.1 }]])).toEqual(['hi:start@0', 'hi:clear@1', 'hi:start@2']);
  });

  it('computes the restore threshold without floating-point noise (0.3 - 0.1 is 0.2)', () => {
    const e = engine([ev('hi', { point: 'level', above: 0.3, hysteresis: 0.1 })]);
    expect(run(e, [[0, { level: 0.4 }], [1, { level: 0.2 }]])).toEqual(['hi:start@0', 'hi:clear@1']);
  });

  it('below mirrors above', () => {
    const e = engine([ev('low', { point: 'level', below: 2.6, hysteresis: 0.1 })]);
    expect(run(e, [[0, { level: 3 }], [1, { level: 2.5 }], [2, { level: 2.65 }], [3, { level: 2.7 }]])).toEqual(['low:start@1', 'low:clear@3']);
  });

  it('above > below is a band (alarm outside), above < below a window (alarm inside)', () => {
    const band = engine([ev('out', { point: 'level', above: 40, below: 5 })]);
    expect(run(band, [[0, { level: 20 }], [1, { level: 41 }], [2, { level: 20 }], [3, { level: 4 }]])).toEqual(['out:start@1', 'out:clear@2', 'out:start@3']);
    const win = engine([ev('in', { point: 'level', above: 10, below: 20 })]);
    expect(run(win, [[0, { level: 5 }], [1, { level: 15 }], [2, { level: 25 }]])).toEqual(['in:start@1', 'in:clear@2']);
  });

  it('ignores null (unreadable) and non-numeric values instead of clearing', () => {
    const e = engine([ev('hi', { point: 'level', above: 10 })]);
    expect(run(e, [[0, { level: 11 }], [1, { level: null }], [2, { level: 12 }]])).toEqual(['hi:start@0']);
  });
});

describe('changes', () => {
  it('fires on every change after the first value, with a snapshot of fields from the same update', () => {
    const e = engine([ev('pass', { point: 'seq', changes: true }, { kind: 'access', fields: ['result', 'mode'] })]);
    expect(e.update({ seq: 7, result: 'granted' }, 0)).toEqual([]);
    const f = e.update({ seq: 8, result: 'denied' }, 10);
    expect(brief(f)).toEqual(['pass:start@10']);
    // `mode` was never read: the snapshot says so with null rather than leaving it out.
    expect(f[0]!.fields).toEqual({ result: 'denied', mode: null });
    expect(f[0]!.def.kind).toBe('access');
    expect(e.update({ seq: 8, result: 'granted' }, 20)).toEqual([]);
    expect(brief(e.update({ seq: 0 }, 30))).toEqual(['pass:start@30']); // a wrap-around is a change too
  });

  it('compares bitfields by their flags, not by object identity', () => {
    const e = engine([ev('faults', { point: 'faults', changes: true }, { fields: ['faults'] })]);
    expect(run(e, [[0, { faults: { speaker: false, power: false } }], [1, { faults: { speaker: false, power: false } }], [2, { faults: { speaker: true, power: false } }]])).toEqual([
      'faults:start@2',
    ]);
  });

  it('with while: every duress pass fires, even two in a row', () => {
    const e = engine([ev('duress', { point: 'seq', changes: true, while: { result: 'duress' } })]);
    expect(run(e, [[0, { seq: 1, result: 'granted' }], [1, { seq: 2, result: 'duress' }], [2, { seq: 3, result: 'duress' }], [3, { seq: 4, result: 'granted' }]])).toEqual([
      'duress:start@1',
      'duress:start@2',
    ]);
  });

  it('never clears', () => {
    const e = engine([ev('c', { point: 'seq', changes: true })]);
    expect(run(e, [[0, { seq: 1 }], [1, { seq: 2 }], [2, { seq: 2 }]]).filter((s) => s.includes('clear'))).toEqual([]);
  });
});

describe('received (pushed occurrences)', () => {
  it('fires on every update of the point, repeats and the first one included', () => {
    const e = engine([ev('push', { point: 'pushed', received: true }, { fields: ['pushed'] })]);
    expect(run(e, [[0, { pushed: 3 }], [1, { pushed: 3 }], [2, { door: 'open' }], [3, { pushed: 4 }]])).toEqual(['push:start@0', 'push:start@1', 'push:start@3']);
  });

  it('applies while to the values of the same push', () => {
    const e = engine([ev('opened', { point: 'pushed', received: true, while: { door: 'open' } })]);
    expect(run(e, [[0, { pushed: 1, door: 'open' }], [1, { pushed: 2, door: 'open' }], [2, { pushed: 2, door: 'closed' }]])).toEqual(['opened:start@0', 'opened:start@1']);
  });
});

describe('for (holds)', () => {
  const held = () => engine([ev('held', { point: 'door', equals: 'open', for: '60s' })]);

  it('fires from tick once the condition has held that long, stamped with the moment it completed', () => {
    const e = held();
    expect(e.update({ door: 'closed' }, 0)).toEqual([]);
    expect(e.nextDeadline()).toBeUndefined();
    expect(e.update({ door: 'open' }, 1_000)).toEqual([]);
    expect(e.nextDeadline()).toBe(61_000);
    expect(e.tick(60_999)).toEqual([]);
    expect(brief(e.tick(61_250))).toEqual(['held:start@61000']);
    expect(e.tick(70_000)).toEqual([]);
    expect(e.nextDeadline()).toBeUndefined();
    expect(brief(e.update({ door: 'closed' }, 80_000))).toEqual(['held:clear@80000']);
  });

  it('is cancelled when the condition stops before the time is up', () => {
    const e = held();
    run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }], [30_000, { door: 'closed' }]]);
    expect(e.nextDeadline()).toBeUndefined();
    expect(e.tick(100_000)).toEqual([]);
    // and restarts from the next opening
    expect(e.update({ door: 'open' }, 200_000)).toEqual([]);
    expect(brief(e.tick(260_000))).toEqual(['held:start@260000']);
  });

  it('an update after a missed deadline reports the hold first, then what the update changed', () => {
    const e = held();
    run(e, [[0, { door: 'open' }]]); // a level: the hold starts at first sight
    expect(brief(e.update({ door: 'closed' }, 90_000))).toEqual(['held:start@60000', 'held:clear@90000']);
  });

  it('on an edge, requires the new value to stay', () => {
    const e = engine([ev('stuck', { point: 'door', becomes: 'open', for: '5s' })]);
    expect(run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }], [3_000, { door: 'closed' }], [4_000, { door: 'open' }]])).toEqual([]);
    expect(brief(e.tick(9_000))).toEqual(['stuck:start@9000']);
    expect(brief(e.update({ door: 'closed' }, 9_500))).toEqual(['stuck:clear@9500']);
  });

  it('with while: the condition and the while must hold together for the whole time', () => {
    const e = engine([ev('armed_open', { point: 'door', equals: 'open', while: { mode: 'armed' }, for: '10s' })]);
    run(e, [[0, { door: 'open', mode: 'armed' }], [5_000, { mode: 'disarmed' }], [6_000, { mode: 'armed' }]]);
    expect(e.tick(15_000)).toEqual([]);
    expect(brief(e.tick(16_000))).toEqual(['armed_open:start@16000']);
  });
});

describe('debounce', () => {
  const debounced = () => engine([ev('opened', { point: 'door', becomes: 'open', debounce: '200ms' })]);

  it('ignores a flicker shorter than the debounce', () => {
    const e = debounced();
    expect(run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }], [1_100, { door: 'closed' }]])).toEqual([]);
    expect(e.tick(5_000)).toEqual([]);
    expect(e.nextDeadline()).toBeUndefined();
  });

  it('accepts a change that stays, stamped with the moment it settled', () => {
    const e = debounced();
    run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }]]);
    expect(e.nextDeadline()).toBe(1_200);
    expect(e.tick(1_199)).toEqual([]);
    expect(brief(e.tick(1_300))).toEqual(['opened:start@1200']);
  });

  it('restarts the wait when the value flickers back and forth', () => {
    const e = debounced();
    expect(run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }], [1_050, { door: 'closed' }], [1_100, { door: 'open' }], [1_250, { door: 'open' }]])).toEqual([]);
    expect(brief(e.tick(1_300))).toEqual(['opened:start@1300']);
  });

  it('debounces the clear as well', () => {
    const e = debounced();
    run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }]]);
    e.tick(1_200);
    expect(run(e, [[2_000, { door: 'closed' }], [2_100, { door: 'open' }]])).toEqual([]);
    expect(e.tick(3_000)).toEqual([]);
    expect(run(e, [[4_000, { door: 'closed' }], [4_300, { door: 'closed' }]])).toEqual(['opened:clear@4200']);
  });

  it('debounces the condition of a threshold, not its noisy value', () => {
    const e = engine([ev('hi', { point: 'level', above: 10, debounce: '1s' })]);
    // the value keeps moving but stays above 10: one start after 1 s
    expect(run(e, [[0, { level: 5 }], [100, { level: 11 }], [400, { level: 12.5 }], [800, { level: 11.2 }], [1_200, { level: 13 }]])).toEqual(['hi:start@1100']);
  });

  it('a hold that completes exactly when a debounced clear settles still fires (held exactly long enough)', () => {
    const e = engine([ev('held', { point: 'door', equals: 'open', debounce: '1s', for: '10s' })]);
    run(e, [[0, { door: 'closed' }], [0, { door: 'open' }], [10_000, { door: 'closed' }]]);
    // open settled at 1000, hold done at 11000; closed settles at 11000 too
    expect(brief(e.tick(20_000))).toEqual(['held:start@11000', 'held:clear@11000']);
  });

  it('combines with for: the hold counts from the settled change', () => {
    const e = engine([ev('held', { point: 'door', equals: 'open', debounce: '1s', for: '10s' })]);
    run(e, [[0, { door: 'closed' }], [1_000, { door: 'open' }]]);
    expect(e.nextDeadline()).toBe(2_000);
    expect(brief(e.tick(20_000))).toEqual(['held:start@12000']);
  });
});

describe('reset (device offline)', () => {
  it('does not fire an edge from stale values when the device returns', () => {
    const e = engine([ev('opened', { point: 'door', becomes: 'open' }), ev('pass', { point: 'seq', changes: true })]);
    run(e, [[0, { door: 'closed', seq: 5 }]]);
    e.reset();
    // The door opened and 3 passes happened while we could not see: no "opened", no "pass".
    expect(run(e, [[10_000, { door: 'open', seq: 8 }]])).toEqual([]);
    expect(run(e, [[11_000, { door: 'closed', seq: 9 }], [12_000, { door: 'open' }]])).toEqual(['pass:start@11000', 'opened:start@12000']);
  });

  it('does not raise an active level alarm twice, and restores it when the device returns without it', () => {
    const e = engine([ev('smoke', { point: 'door', equals: 'open' })]);
    expect(run(e, [[0, { door: 'open' }]])).toEqual(['smoke:start@0']);
    e.reset();
    expect(run(e, [[5_000, { door: 'open' }]])).toEqual([]);
    e.reset();
    expect(run(e, [[9_000, { door: 'closed' }]])).toEqual(['smoke:clear@9000']);
  });

  it('keeps the hysteresis side of an active threshold across a reset', () => {
    const e = engine([ev('gas', { point: 'level', above: 25, hysteresis: 5 })]);
    run(e, [[0, { level: 30 }]]);
    e.reset();
    expect(run(e, [[1_000, { level: 22 }]])).toEqual([]); // still inside the band: still active
    expect(run(e, [[2_000, { level: 19 }]])).toEqual(['gas:clear@2000']);
  });

  it('cancels pending holds and debounces and forgets field values', () => {
    const e = engine([
      ev('held', { point: 'door', equals: 'open', for: '60s' }),
      ev('deb', { point: 'level', above: 1, debounce: '1s' }),
      ev('pass', { point: 'seq', changes: true }, { fields: ['result'] }),
    ]);
    run(e, [[0, { door: 'open', level: 0, seq: 1, result: 'granted' }], [10, { level: 5 }]]);
    expect(e.nextDeadline()).toBe(1_010);
    e.reset();
    expect(e.nextDeadline()).toBeUndefined();
    expect(e.tick(120_000)).toEqual([]);
    e.update({ seq: 1 }, 130_000);
    const f = e.update({ seq: 2 }, 131_000);
    expect(f[0]!.fields).toEqual({ result: null });
  });

  it('clears a started edge rule whose value left while offline', () => {
    const e = engine([ev('opened', { point: 'door', becomes: 'open' })]);
    run(e, [[0, { door: 'closed' }], [1, { door: 'open' }]]);
    e.reset();
    expect(run(e, [[100, { door: 'closed' }]])).toEqual(['opened:clear@100']);
  });
});

describe('firings', () => {
  it('carry the alarm with the latch default (emergency latches) and come in profile order', () => {
    const e = engine([
      ev('b', { point: 'door', equals: 'open' }, { alarm: { cid: 111, sia: 'FA', severity: 'emergency' } }),
      ev('a', { point: 'door', equals: 'open' }, { alarm: { cid: 137, sia: 'TA', severity: 'critical', restore: true } }),
      ev('plain', { point: 'door', equals: 'open' }),
    ]);
    const f = e.update({ door: 'open' }, 0);
    expect(f.map((x) => x.def.id)).toEqual(['b', 'a', 'plain']);
    expect(f[0]!.alarm).toMatchObject({ cid: 111, latch: true });
    expect(f[1]!.alarm).toMatchObject({ cid: 137, latch: false, restore: true });
    expect(f[2]!.alarm).toBeUndefined();
    expect(f.every((x) => x.phase === 'start' && x.ts === 0)).toBe(true);
  });

  it('keep profile order when a tick and an update both produce firings', () => {
    const e = engine([ev('first', { point: 'door', equals: 'open' }), ev('second', { point: 'level', above: 1, debounce: '1s' })]);
    run(e, [[0, { door: 'closed', level: 0 }], [10, { level: 2 }]]);
    expect(brief(e.update({ door: 'open' }, 5_000))).toEqual(['first:start@5000', 'second:start@1010']);
  });

  it('points missing from an update keep their last value', () => {
    const e = engine([ev('forced', { point: 'door', becomes: 'open', while: { bolt: 'locked' } })]);
    expect(run(e, [[0, { door: 'closed', bolt: 'locked' }], [1, { level: 3 }], [2, { door: 'open' }]])).toEqual(['forced:start@2']);
  });
});
