/**
 * The rules engine: decoded point values in, profile events and alarm starts/clears out.
 * PURE: no I/O, no timers, no clock. Time is whatever `ts` the caller passes, so a test can
 * replay an hour of door traffic in a millisecond and the runtime can feed it from any loop.
 *
 * Each rule runs the same small pipeline:
 *
 *   trigger point value -> observation -> debounce -> transition -> (hold) -> firing
 *
 *  - The observation is the trigger condition as a boolean (`becomes`, `equals`, `flag`,
 *    `above`/`below` with hysteresis), or the value itself for `changes`.
 *  - `debounce` only accepts an observation after it has been stable that long; a flicker back
 *    before that is ignored.
 *  - `becomes` fires on the accepted false -> true edge; the first value ever seen (or the first
 *    after reset()) is a baseline, never an edge: a device that comes online with the door already
 *    open did not just open.
 *  - Levels (`equals`, `flag`, `above`/`below`) fire when the condition (and `while`) is true,
 *    including at first sight: smoke already present is an alarm.
 *  - `for` arms a hold; the start fires when the hold completes (from tick() or a later update).
 *  - `clear` fires when a started rule's trigger condition stops being true. `while` gates the
 *    start only: a forced door does not "restore" because someone later unlocks the bolt.
 *
 * Firing timestamps are the moment the inputs determined the firing: the update's ts, the moment
 * a debounce settled (change time + debounce) or a hold completed (start + for), never later than
 * the ts of the call that returns it, and independent of how often tick() is called.
 */
import { samePointValue } from '../core/point-value.js';
import type { PointValue } from '../core/types.js';
import type { RuleEngine, RuleFiring } from './rules-types.js';
import {
  isFramePoint,
  isJsonPoint,
  type AlarmDef,
  type ConditionDef,
  type EventDef,
  type PointDef,
  type Profile,
  type TriggerDef,
} from './schema.js';

type Comparable = string | number | boolean;
type Kind = 'edge' | 'level' | 'change' | 'received';
/** A debounced observation: the trigger condition, or (for `changes`) the value. */
type Observation = boolean | PointValue;

interface CompiledRule {
  index: number;
  def: EventDef;
  kind: Kind;
  point: string;
  /** Edge/level condition on the trigger value; `wasTrue` selects the hysteresis side. Undefined: cannot tell (null, wrong type). */
  test: (value: PointValue, wasTrue: boolean) => boolean | undefined;
  whileConds: ReadonlyArray<{ point: string; holds: (value: PointValue | undefined) => boolean }>;
  holdMs: number;
  debounceMs: number;
  alarm: AlarmDef | undefined;
}

interface RuleState {
  /** An observation has been accepted since creation or reset(). */
  known: boolean;
  stable: Observation;
  pending: { obs: Observation; since: number } | undefined;
  /** A start was fired and its clear not yet: survives reset() so a flaky link does not re-raise alarms. */
  active: boolean;
  holdSince: number | undefined;
}

interface Pending {
  rule: number;
  seq: number;
  firing: RuleFiring;
}

const NUMERIC_TYPES = new Set(['u16', 'i16', 'u32', 'i32', 'f32']);

/** Does a decoded value equal a value written in a profile (a label, a raw number or a boolean)? */
export function valueMatches(def: PointDef | undefined, value: PointValue | undefined, expected: Comparable): boolean {
  if (value === undefined || value === null || typeof value === 'object') return false;
  if (typeof value === typeof expected) return value === expected;
  if (typeof value === 'string') {
    // A label from a map, compared with the raw value it stands for (`equals: 3` on an enum).
    if (typeof expected === 'number') return def?.map?.[String(expected)] === value || value === `unknown_${expected}`;
    return def?.map?.[expected ? '1' : '0'] === value;
  }
  if (typeof value === 'boolean') return typeof expected === 'number' ? value === (expected !== 0) : String(value) === expected;
  // value is a number
  return typeof expected === 'boolean' ? value !== 0 === expected : String(value) === expected;
}

function conditionPredicate(def: PointDef | undefined, cond: ConditionDef): (value: PointValue | undefined) => boolean {
  if (typeof cond !== 'object') return (v) => valueMatches(def, v, cond);
  return (v) => {
    if (v === undefined || v === null) return false;
    if (cond.equals !== undefined && !valueMatches(def, v, cond.equals)) return false;
    if (cond.not !== undefined && valueMatches(def, v, cond.not)) return false;
    if (cond.above !== undefined && !(typeof v === 'number' && v > cond.above)) return false;
    if (cond.below !== undefined && !(typeof v === 'number' && v < cond.below)) return false;
    if (cond.flag !== undefined && !(typeof v === 'object' && v[cond.flag] === true)) return false;
    return true;
  };
}

/**
 * Threshold with hysteresis. Not active: `above` means v > above, `below` means v < below. Active:
 * it stays active until v <= above - hysteresis (or v >= below + hysteresis). With both bounds,
 * above < below is a window (alarm inside), above > below is a band (alarm outside: "below 5 or above 40").
 */
function thresholdTest(t: TriggerDef): (value: PointValue, wasTrue: boolean) => boolean | undefined {
  const h = t.hysteresis ?? 0;
  // Decimal thresholds: 0.7 + 0.1 must be 0.8, not 0.7999999999999999 (same rounding as the codec).
  const clean = (x: number) => Number(x.toPrecision(12));
  const aboveClear = t.above === undefined ? undefined : clean(t.above - h);
  const belowClear = t.below === undefined ? undefined : clean(t.below + h);
  return (v, wasTrue) => {
    if (typeof v !== 'number' || Number.isNaN(v)) return undefined;
    const above = wasTrue ? aboveClear : t.above;
    const below = wasTrue ? belowClear : t.below;
    const isAbove = above !== undefined && v > above;
    const isBelow = below !== undefined && v < below;
    if (above !== undefined && below !== undefined) return t.above! < t.below! ? isAbove && isBelow : isAbove || isBelow;
    return isAbove || isBelow;
  };
}

function compile(pointDefs: ReadonlyMap<string, PointDef>, def: EventDef, index: number): CompiledRule {
  const t = def.when;
  const trigger = pointDefs.get(t.point);
  let kind: Kind;
  let test: CompiledRule['test'] = () => undefined;
  if (t.changes) kind = 'change';
  else if (t.received) kind = 'received';
  else if (t.becomes !== undefined) {
    kind = 'edge';
    const x = t.becomes;
    test = (v) => (v === null || typeof v === 'object' ? undefined : valueMatches(trigger, v, x));
  } else if (t.equals !== undefined) {
    kind = 'level';
    const x = t.equals;
    test = (v) => (v === null || typeof v === 'object' ? undefined : valueMatches(trigger, v, x));
  } else if (t.flag !== undefined) {
    kind = 'level';
    const f = t.flag;
    test = (v) => (v !== null && typeof v === 'object' ? v[f] === true : undefined);
  } else {
    kind = 'level';
    test = thresholdTest(t);
  }
  const whileConds = Object.entries(t.while ?? {}).map(([point, cond]) => ({ point, holds: conditionPredicate(pointDefs.get(point), cond) }));
  const alarm = def.alarm === undefined ? undefined : { ...def.alarm, latch: def.alarm.latch ?? def.alarm.severity === 'emergency' };
  return { index, def, kind, point: t.point, test, whileConds, holdMs: t.for ?? 0, debounceMs: t.debounce ?? 0, alarm };
}

/** What update()/tick() return when nothing fires (nearly always): one shared, frozen list. */
const NO_FIRINGS: RuleFiring[] = Object.freeze([]) as unknown as RuleFiring[];

class ProfileRuleEngine implements RuleEngine {
  private readonly rules: readonly CompiledRule[];
  private readonly states: RuleState[];
  private readonly values = new Map<string, PointValue>();
  private out: Pending[] = [];
  private seq = 0;

  constructor(profile: Profile) {
    this.rules = compiledRules(profile);
    this.states = this.rules.map(() => ({ known: false, stable: null, pending: undefined, active: false, holdSince: undefined }));
  }

  update(values: Readonly<Record<string, PointValue>>, ts: number): RuleFiring[] {
    // Deadlines that passed before this update are judged on the values they saw.
    this.settle(ts);
    for (const k in values) {
      const v = values[k];
      if (v !== undefined) this.values.set(k, v);
    }
    for (const rule of this.rules) {
      if (Object.prototype.hasOwnProperty.call(values, rule.point) && values[rule.point] !== undefined) this.observe(rule, values[rule.point]!, ts);
    }
    // A level also starts when only its `while` points changed.
    for (const rule of this.rules) if (rule.kind === 'level') this.evaluateLevel(rule, ts);
    return this.flush();
  }

  tick(ts: number): RuleFiring[] {
    this.settle(ts);
    return this.flush();
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const st = this.states[i]!;
      if (st.pending) next = Math.min(next ?? Infinity, st.pending.since + rule.debounceMs);
      if (st.holdSince !== undefined) next = Math.min(next ?? Infinity, st.holdSince + rule.holdMs);
    }
    return next;
  }

  reset(): void {
    this.values.clear();
    for (const st of this.states) {
      st.known = false;
      st.stable = null;
      st.pending = undefined;
      st.holdSince = undefined;
    }
  }

  private observe(rule: CompiledRule, value: PointValue, ts: number): void {
    const st = this.states[rule.index]!;
    if (rule.kind === 'received') {
      if (this.whileHolds(rule)) this.fire(rule, 'start', ts);
      return;
    }
    if (value === null) return; // an unreadable value (NaN float) tells nothing
    let obs: Observation;
    if (rule.kind === 'change') obs = value;
    else {
      // Hysteresis side: the accepted condition, or after reset() whether the rule is still active.
      const c = rule.test(value, st.known ? st.stable === true : st.active);
      if (c === undefined) return;
      obs = c;
    }
    if (!st.known) {
      st.known = true;
      st.stable = obs;
      st.pending = undefined;
      this.baseline(rule, ts);
      return;
    }
    if (samePointValue(obs, st.stable)) {
      st.pending = undefined; // a flicker came back before the debounce settled
      return;
    }
    if (rule.debounceMs === 0) {
      this.accept(rule, obs, ts);
      return;
    }
    if (!st.pending || !samePointValue(st.pending.obs, obs)) st.pending = { obs, since: ts };
  }

  /** First accepted observation: no edge, no change; levels may start; a kept-active edge rule may clear. */
  private baseline(rule: CompiledRule, ts: number): void {
    const st = this.states[rule.index]!;
    if (rule.kind === 'edge' && st.active && st.stable === false) this.fire(rule, 'clear', ts);
    if (rule.kind === 'level') this.evaluateLevel(rule, ts);
  }

  private accept(rule: CompiledRule, obs: Observation, t: number): void {
    const st = this.states[rule.index]!;
    const before = st.stable;
    st.stable = obs;
    switch (rule.kind) {
      case 'change':
        if (!samePointValue(before, obs) && this.whileHolds(rule)) this.fire(rule, 'start', t);
        return;
      case 'edge':
        if (obs === true && this.whileHolds(rule)) {
          if (rule.holdMs > 0) st.holdSince = t;
          else this.fire(rule, 'start', t);
        } else if (obs === false) {
          st.holdSince = undefined;
          if (st.active) this.fire(rule, 'clear', t);
        }
        return;
      case 'level':
        this.evaluateLevel(rule, t);
        return;
      case 'received':
        return;
    }
  }

  private evaluateLevel(rule: CompiledRule, t: number): void {
    const st = this.states[rule.index]!;
    if (!st.known) return;
    if (st.stable !== true) {
      st.holdSince = undefined;
      if (st.active) this.fire(rule, 'clear', t);
      return;
    }
    if (st.active) return;
    if (!this.whileHolds(rule)) {
      st.holdSince = undefined;
      return;
    }
    if (rule.holdMs === 0) this.fire(rule, 'start', t);
    else if (st.holdSince === undefined) st.holdSince = t;
  }

  /** Accept debounced observations and complete holds whose time has come, earliest first. */
  private settle(now: number): void {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const st = this.states[i]!;
      for (;;) {
        const tAccept = st.pending ? st.pending.since + rule.debounceMs : Infinity;
        const tHold = st.holdSince !== undefined ? st.holdSince + rule.holdMs : Infinity;
        if (Math.min(tAccept, tHold) > now) break;
        if (tHold <= tAccept) {
          st.holdSince = undefined;
          this.fire(rule, 'start', tHold);
        } else {
          const obs = st.pending!.obs;
          st.pending = undefined;
          this.accept(rule, obs, tAccept);
        }
      }
    }
  }

  private whileHolds(rule: CompiledRule): boolean {
    return rule.whileConds.every((c) => c.holds(this.values.get(c.point)));
  }

  private fire(rule: CompiledRule, phase: 'start' | 'clear', ts: number): void {
    const st = this.states[rule.index]!;
    if (rule.kind === 'edge' || rule.kind === 'level') st.active = phase === 'start';
    const fields: Record<string, PointValue> = {};
    for (const f of rule.def.fields) fields[f] = this.values.get(f) ?? null;
    const firing: RuleFiring = { def: rule.def, phase, ts, fields };
    if (rule.alarm) firing.alarm = rule.alarm;
    this.out.push({ rule: rule.index, seq: this.seq++, firing });
  }

  private flush(): RuleFiring[] {
    // Most updates fire nothing: no sort, no arrays.
    if (this.out.length === 0) return NO_FIRINGS;
    const out = this.out.sort((a, b) => a.rule - b.rule || a.seq - b.seq).map((p) => p.firing);
    this.out = [];
    return out;
  }
}

/**
 * The compiled rules of a profile, shared by every device of that profile: they hold only the
 * profile's definitions (conditions, thresholds, holds), never a device's state, and compiling
 * them per device cost a few KB per device (a point map per rule, closures, alarm copies).
 */
const compiledByProfile = new WeakMap<Profile, readonly CompiledRule[]>();

function compiledRules(profile: Profile): readonly CompiledRule[] {
  let rules = compiledByProfile.get(profile);
  if (!rules) {
    const pointDefs = new Map(profile.points.map((p) => [p.id, p]));
    rules = profile.events.map((e, i) => compile(pointDefs, e, i));
    compiledByProfile.set(profile, rules);
  }
  return rules;
}

/** Build the engine for one device instance of a profile. */
export function createRuleEngine(profile: Profile): RuleEngine {
  return new ProfileRuleEngine(profile);
}

export interface RuleProblem {
  /** Path inside the profile document, e.g. ['events', 2, 'when', 'becomes']. */
  path: Array<string | number>;
  message: string;
}

/**
 * Checks the schema cannot express: that the values a rule compares against exist for the point
 * (`becomes: opne` would otherwise never fire, silently), that `flag` names a bit, that thresholds
 * sit on numbers and that `received` sits on pushed points. The registry reports these with file
 * and line at load time, so a typo in a profile stops the boot instead of hiding an alarm.
 */
export function checkRuleDefinitions(profile: Profile): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const points = new Map(profile.points.map((p) => [p.id, p]));
  const pushFrames = new Set((profile.serial?.pushes ?? []).map((f) => f.id));

  const checkComparable = (pt: PointDef, x: Comparable, path: Array<string | number>): void => {
    const problem = comparableProblem(pt, x);
    if (problem) problems.push({ path, message: problem });
  };

  profile.events.forEach((ev, i) => {
    const t = ev.when;
    const base: Array<string | number> = ['events', i, 'when'];
    const pt = points.get(t.point);
    if (!pt) return; // unknown points are reported by the registry
    if (t.becomes !== undefined) checkComparable(pt, t.becomes, [...base, 'becomes']);
    if (t.equals !== undefined) checkComparable(pt, t.equals, [...base, 'equals']);
    if (t.flag !== undefined) {
      const problem = flagProblem(pt, t.flag);
      if (problem) problems.push({ path: [...base, 'flag'], message: problem });
    }
    if ((t.above !== undefined || t.below !== undefined) && !NUMERIC_TYPES.has(pt.type))
      problems.push({ path: [...base, t.above !== undefined ? 'above' : 'below'], message: `thresholds need a numeric point, "${pt.id}" is ${pt.type}` });
    if (t.hysteresis !== undefined && t.above === undefined && t.below === undefined)
      problems.push({ path: [...base, 'hysteresis'], message: 'hysteresis only applies to above/below' });
    if ((t.changes || t.received) && t.for !== undefined)
      problems.push({ path: [...base, 'for'], message: `"for" needs a state to hold; ${t.changes ? 'changes' : 'received'} is an occurrence` });
    if (t.received) {
      if (t.debounce !== undefined) problems.push({ path: [...base, 'debounce'], message: 'received fires on every frame; debounce does not apply' });
      const pushed = isJsonPoint(pt) || (isFramePoint(pt) && pushFrames.has(pt.frame));
      if (!pushed)
        problems.push({
          path: [...base, 'received'],
          message: `"${pt.id}" is polled, so received would fire on every poll; use it for push-frame or JSON points`,
        });
    }
    for (const [other, cond] of Object.entries(t.while ?? {})) {
      const od = points.get(other);
      if (!od) continue;
      const path = [...base, 'while', other];
      if (typeof cond !== 'object') {
        checkComparable(od, cond, path);
        continue;
      }
      if (cond.equals !== undefined) checkComparable(od, cond.equals, [...path, 'equals']);
      if (cond.not !== undefined) checkComparable(od, cond.not, [...path, 'not']);
      if (cond.flag !== undefined) {
        const problem = flagProblem(od, cond.flag);
        if (problem) problems.push({ path: [...path, 'flag'], message: problem });
      }
      if ((cond.above !== undefined || cond.below !== undefined) && !NUMERIC_TYPES.has(od.type))
        problems.push({ path, message: `thresholds need a numeric point, "${od.id}" is ${od.type}` });
    }
  });
  return problems;
}

function labelsOf(pt: PointDef): string[] {
  return Object.values(pt.map ?? {});
}

function comparableProblem(pt: PointDef, x: Comparable): string | undefined {
  if (pt.type === 'bitfield') return `"${pt.id}" is a bitfield: use flag: <name>`;
  if (pt.type === 'string') return typeof x === 'string' ? undefined : `"${pt.id}" is a string point, compare it with a string`;
  if (pt.map) {
    if (typeof x === 'string' && !labelsOf(pt).includes(x)) return `"${x}" is not a value of ${pt.id} (one of: ${labelsOf(pt).join(', ')})`;
    if (typeof x === 'number' && pt.map[String(x)] === undefined && pt.type !== 'bool')
      return `${x} is not a raw value of ${pt.id} (one of: ${Object.keys(pt.map).join(', ')})`;
    if (typeof x === 'boolean' && pt.type !== 'bool') return `"${pt.id}" is ${pt.type}, not bool`;
    return undefined;
  }
  if (pt.type === 'bool') return typeof x === 'boolean' || x === 0 || x === 1 ? undefined : `"${pt.id}" has no map: compare it with true or false`;
  if (NUMERIC_TYPES.has(pt.type) && typeof x !== 'number') return `"${pt.id}" is ${pt.type}: compare it with a number`;
  return undefined;
}

function flagProblem(pt: PointDef, flag: string): string | undefined {
  if (pt.type !== 'bitfield') return `flag needs a bitfield point, "${pt.id}" is ${pt.type}`;
  const names = Object.values(pt.bits ?? {});
  return names.includes(flag) ? undefined : `"${flag}" is not a flag of ${pt.id} (one of: ${names.join(', ')})`;
}
