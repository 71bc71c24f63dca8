/**
 * The alarm state machine. Every change is written to the store (fsync'd) BEFORE it is emitted
 * on the bus: the bus is for speed, the store for durability, and a receiver must never hear of
 * an alarm the gateway could forget in a power cut.
 *
 * Latching (GB 50394): an alarm with `latch` stays active until a person resets it. The rule
 * firing again while it is active is counted as a re-trigger, not a new alarm; the condition
 * clearing is logged but does not end it. Non-latched alarms end when their condition clears,
 * and if they carry `restore`, the clear also produces a `restore` alarm pointing at them.
 */
import type { EventBus } from '../core/event-bus.js';
import type { Alarm, AlarmCode, AlarmState, DeviceLocation, PointValue, Severity } from '../core/types.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RuleFiring } from '../profiles/rules-types.js';
import type { OutboxEntryInput, OutboxRow } from '../store/outbox.js';
import type { AlarmRecord, AlarmTransition, Store } from '../store/store.js';
import { transitionProblem } from './lifecycle.js';
import { ulidFactory, type IdFactory } from './ulid.js';

export interface AlarmServiceOptions {
  store: Store;
  bus: EventBus;
  site: string;
  log: Logger;
  /** ms since epoch; defaults to Date.now. */
  clock?: () => number;
  /** Id factory; defaults to a monotonic ULID factory on `clock`. */
  newId?: IdFactory;
  /** Where new alarms and restores are queued for forwarding; none = nothing is forwarded. */
  outbox?: AlarmOutboxHook;
}

/**
 * The outbox's part in raising an alarm: which routes it takes (computed before the insert) and
 * a wake-up once the alarm and its queue rows have committed together.
 */
export interface AlarmOutboxHook {
  entriesFor(alarm: Alarm): OutboxEntryInput[];
  queued(rows: readonly OutboxRow[]): void;
}

export interface RaiseInput {
  device: string;
  profile: string;
  /** Profile event id, e.g. `panic`. */
  rule: string;
  name: { zh: string; en: string };
  code?: AlarmCode;
  severity: Severity;
  /** Defaults to true for `emergency` severity (the profile schema's rule). */
  latch?: boolean;
  silent?: boolean;
  /** Produce a `restore` alarm when the condition clears. */
  restore?: boolean;
  /** SIA code of that restore (profile `siaRestore`, e.g. TR for TA); defaults to the alarm's. */
  restoreSia?: string;
  location?: DeviceLocation;
  fields?: Readonly<Record<string, PointValue>>;
  /** When the condition started; defaults to now. */
  ts?: number;
  /** Recorded in the history; defaults to `rule:<rule>`. */
  by?: string;
}

export interface ClearInput {
  device: string;
  rule: string;
  ts?: number;
  fields?: Readonly<Record<string, PointValue>>;
  by?: string;
}

export interface ClearResult {
  /** The alarm whose condition cleared. */
  alarm: Alarm;
  /** True when the alarm ended (non-latched); false when it stays latched. */
  ended: boolean;
  /** The restore alarm produced, if the alarm asked for one. */
  restore?: Alarm;
}

export interface Actor {
  /** Who: a user name for people; `outbox`, `gateway`... for the machine. */
  by: string;
  note?: string;
}

export interface AlarmListQuery {
  device?: string;
  since?: number;
  limit?: number;
}

/** What a device runtime knows about the device that a rule fired on. */
export interface FiringDevice {
  id: string;
  profile: string;
  location?: DeviceLocation;
}

const key = (device: string, rule: string) => `${device}\u0000${rule}`;

export class AlarmService {
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly site: string;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly newId: IdFactory;
  private readonly outbox: AlarmOutboxHook | undefined;
  /** Active alarms (kind `alarm`, not reset) by id, and their id by device+rule. */
  private readonly activeById = new Map<string, Alarm>();
  private readonly activeByRule = new Map<string, string>();

  constructor(options: AlarmServiceOptions) {
    this.store = options.store;
    this.bus = options.bus;
    this.site = options.site;
    this.log = options.log;
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? ulidFactory(this.clock);
    this.outbox = options.outbox;
    // Latched alarms survive a power cut: whatever was active when we stopped is active again.
    const open = this.store.openAlarms();
    for (const rec of open) this.remember(rec.alarm);
    if (open.length > 0) this.log.info({ active: open.length }, 'active alarms reloaded from the store');
  }

  /**
   * A rule's alarm condition started. Returns the new alarm, or — when the same device+rule
   * already has an active alarm — that alarm (the firing is recorded as a re-trigger).
   */
  raise(input: RaiseInput): Alarm {
    const now = this.clock();
    const ts = input.ts ?? now;
    const by = input.by ?? `rule:${input.rule}`;
    const existingId = this.activeByRule.get(key(input.device, input.rule));
    if (existingId !== undefined) {
      const existing = this.activeById.get(existingId)!;
      this.store.recordRetrigger(existing.id, existing.state, ts, by);
      this.log.info({ alarm: existing.id, device: input.device, rule: input.rule }, 'alarm re-triggered while active; no duplicate raised');
      return existing;
    }
    const alarm: Alarm = {
      id: this.newId(),
      site: this.site,
      device: input.device,
      profile: input.profile,
      rule: input.rule,
      name: { zh: input.name.zh, en: input.name.en },
      code: { ...input.code },
      severity: input.severity,
      kind: 'alarm',
      latch: input.latch ?? input.severity === 'emergency',
      silent: input.silent ?? false,
      state: 'raised',
      raisedAt: ts,
      updatedAt: now,
      fields: { ...input.fields },
    };
    if (input.location && Object.keys(input.location).length > 0) alarm.location = { ...input.location };
    // Durable first (throws STORE if the disk refuses: then nobody hears of an alarm we could lose).
    const queued = this.store.transaction(() =>
      this.insertAndQueue(alarm, { by, restoreOnClear: input.restore ?? false, restoreSia: input.restoreSia }, now),
    );
    const current = queued.rows.length > 0 ? queued.alarm : alarm;
    this.remember(current);
    this.log.warn({ alarm: alarm.id, device: alarm.device, rule: alarm.rule, severity: alarm.severity, latch: alarm.latch }, 'alarm raised');
    this.announce(alarm, queued);
    return current;
  }

  /**
   * Insert an alarm and, when routes take it, its outbox rows and the `queued` transition: one
   * transaction when called inside Store.transaction, so no alarm is stored that is not queued.
   */
  private insertAndQueue(
    alarm: Alarm,
    opts: { by: string; restoreOnClear?: boolean; restoreSia?: string | undefined },
    now: number,
  ): { alarm: Alarm; rows: OutboxRow[] } {
    this.store.insertAlarm(alarm, {
      by: opts.by,
      restoreOnClear: opts.restoreOnClear ?? false,
      ...(opts.restoreSia === undefined ? {} : { restoreSia: opts.restoreSia }),
    });
    const entries = this.outbox?.entriesFor(alarm) ?? [];
    if (entries.length === 0) return { alarm, rows: [] };
    const rows = this.store.outbox.enqueue(alarm.id, entries, now);
    const note = rows.map((r) => `${r.route} #${r.account} seq ${r.seq}`).join(', ');
    this.store.transitionAlarm({ alarmId: alarm.id, from: 'raised', to: 'queued', at: now, by: 'outbox', note });
    return { alarm: { ...alarm, state: 'queued', updatedAt: now }, rows };
  }

  /** After commit: publish `raised` (and `queued`), then wake the dispatcher. */
  private announce(raised: Alarm, queued: { alarm: Alarm; rows: OutboxRow[] }): void {
    this.bus.emit('alarm', raised);
    if (queued.rows.length === 0) return;
    this.bus.emit('alarm', queued.alarm);
    try {
      this.outbox?.queued(queued.rows);
    } catch (err) {
      // The rows are committed; the dispatcher's periodic scan will still find them.
      this.log.error({ err, alarm: raised.id }, 'outbox wake-up failed');
    }
  }

  /**
   * A rule's alarm condition cleared. A latched alarm stays active (the clear is logged, and a
   * restore is still produced if asked for, so the receiver learns the condition is gone). A
   * non-latched alarm ends (state `reset`). Returns undefined when the rule had no active alarm
   * or its condition had already cleared.
   */
  clear(input: ClearInput): ClearResult | undefined {
    const id = this.activeByRule.get(key(input.device, input.rule));
    if (id === undefined) return undefined;
    const rec = this.store.getAlarm(id);
    if (!rec || !rec.conditionActive) return undefined;
    const original = rec.alarm;
    const now = this.clock();
    const ts = input.ts ?? now;
    const by = input.by ?? `rule:${input.rule}`;

    let restore: Alarm | undefined;
    if (rec.restoreOnClear) {
      restore = {
        ...original,
        id: this.newId(),
        // Contact ID restores reuse the event code (with qualifier 3); SIA uses its own restore code.
        code: { ...original.code, ...(rec.restoreSia !== undefined ? { sia: rec.restoreSia } : {}) },
        kind: 'restore',
        latch: false,
        state: 'raised',
        raisedAt: ts,
        updatedAt: now,
        fields: { ...(input.fields ?? original.fields) },
        restores: original.id,
      };
    }
    const ended: Alarm | undefined = original.latch ? undefined : { ...original, state: 'reset', updatedAt: now };
    let restoreQueued: { alarm: Alarm; rows: OutboxRow[] } | undefined;
    // One transaction: the restore, the clear record and the end of the original land together.
    this.store.transaction(() => {
      this.store.recordConditionClear(original.id, original.state, ts, by);
      if (restore) restoreQueued = this.insertAndQueue(restore, { by }, now);
      if (ended)
        this.store.transitionAlarm({
          alarmId: original.id,
          from: original.state,
          to: 'reset',
          at: now,
          by,
          note: restore ? `restored by ${restore.id}` : 'condition cleared',
        });
    });
    if (ended) this.forget(original.id);
    this.log.info({ alarm: original.id, ended: ended !== undefined, restore: restore?.id }, 'alarm condition cleared');
    if (restore && restoreQueued) this.announce(restore, restoreQueued);
    if (ended) this.bus.emit('alarm', ended);
    const result: ClearResult = { alarm: ended ?? original, ended: ended !== undefined };
    if (restore) result.restore = restoreQueued && restoreQueued.rows.length > 0 ? restoreQueued.alarm : restore;
    return result;
  }

  /** A person ends an alarm (the only way a latched alarm ends). */
  reset(alarmId: string, actor: Actor): Alarm {
    if (!actor || typeof actor.by !== 'string' || actor.by.trim() === '') {
      throw new ShouwangError(ErrorCodes.ALARM_STATE, `alarm ${alarmId}: a reset must name the person who did it (by)`);
    }
    return this.transition(alarmId, 'reset', actor);
  }

  /** Move an alarm along its lifecycle (forward only). Throws ALARM_UNKNOWN / ALARM_STATE. */
  transition(alarmId: string, to: AlarmState, actor: Actor): Alarm {
    return this.advance(alarmId, [{ to, actor }]);
  }

  /**
   * Several forward moves in one transaction (one fsync), emitted in order after the commit:
   * the outbox records `sent` and `delivered` together when the receiver ACKs the first try.
   * `also` runs inside the same transaction (e.g. marking the outbox row delivered).
   */
  advance(alarmId: string, steps: ReadonlyArray<{ to: AlarmState; actor: Actor }>, also?: () => void): Alarm {
    let current = this.activeById.get(alarmId) ?? this.store.getAlarm(alarmId)?.alarm;
    if (!current) throw new ShouwangError(ErrorCodes.ALARM_UNKNOWN, `no alarm ${alarmId}`, { details: { alarmId } });
    const now = this.clock();
    const moves: Array<{ from: AlarmState; next: Alarm; actor: Actor }> = [];
    for (const { to, actor } of steps) {
      const problem = transitionProblem(current.state, to);
      if (problem) {
        throw new ShouwangError(ErrorCodes.ALARM_STATE, `alarm ${alarmId}: cannot move ${current.state} -> ${to}: ${problem}`, {
          details: { alarmId, from: current.state, to },
        });
      }
      const next: Alarm = { ...current, state: to, updatedAt: now };
      moves.push({ from: current.state, next, actor });
      current = next;
    }
    this.store.transaction(() => {
      for (const m of moves) this.store.transitionAlarm({ alarmId, from: m.from, to: m.next.state, at: now, by: m.actor.by, note: m.actor.note });
      also?.();
    });
    for (const m of moves) {
      const to = m.next.state;
      if (to === 'reset') this.forget(alarmId);
      else if (this.activeById.has(alarmId)) this.activeById.set(alarmId, m.next);
      this.log.info({ alarm: alarmId, from: m.from, to, by: m.actor.by }, 'alarm state changed');
      this.bus.emit('alarm', m.next);
    }
    return current;
  }

  /**
   * Feed a rule firing from the rules engine: `start` raises, `clear` clears. Firings without an
   * alarm definition are not alarms and return undefined.
   */
  handleFiring(firing: RuleFiring, device: FiringDevice): Alarm | undefined {
    const def = firing.alarm ?? firing.def.alarm;
    if (!def) return undefined;
    if (firing.phase === 'clear') {
      return this.clear({ device: device.id, rule: firing.def.id, ts: firing.ts, fields: firing.fields })?.alarm;
    }
    const input: RaiseInput = {
      device: device.id,
      profile: device.profile,
      rule: firing.def.id,
      name: firing.def.name,
      code: { cid: def.cid, sia: def.sia },
      severity: def.severity,
      silent: def.silent ?? false,
      restore: def.restore ?? false,
      fields: firing.fields,
      ts: firing.ts,
    };
    if (def.latch !== undefined) input.latch = def.latch;
    if (def.siaRestore !== undefined) input.restoreSia = def.siaRestore;
    if (device.location) input.location = device.location;
    return this.raise(input);
  }

  /** Active alarms (kind `alarm`, not reset), oldest first. */
  active(): Alarm[] {
    return [...this.activeById.values()];
  }

  get(alarmId: string): Alarm | undefined {
    return this.activeById.get(alarmId) ?? this.store.getAlarm(alarmId)?.alarm;
  }

  /** The alarm with its bookkeeping (re-trigger count, whether its condition is still present). */
  record(alarmId: string): AlarmRecord | undefined {
    return this.store.getAlarm(alarmId);
  }

  /** Alarms newest first (restores included). */
  list(query: AlarmListQuery = {}): Alarm[] {
    return this.store.listAlarms(query).map((r) => r.alarm);
  }

  /** An alarm's history, oldest first. */
  history(alarmId: string): AlarmTransition[] {
    return this.store.alarmTransitions(alarmId);
  }

  private remember(alarm: Alarm): void {
    this.activeById.set(alarm.id, alarm);
    this.activeByRule.set(key(alarm.device, alarm.rule), alarm.id);
  }

  private forget(alarmId: string): void {
    const alarm = this.activeById.get(alarmId);
    if (!alarm) return;
    this.activeById.delete(alarmId);
    const k = key(alarm.device, alarm.rule);
    if (this.activeByRule.get(k) === alarmId) this.activeByRule.delete(k);
  }
}
