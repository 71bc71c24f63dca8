/**
 * The access rules runner: feeds the pure rule modules from the bus and turns their decisions
 * into alarms (AlarmService: stored, fsync'd and queued on the outbox before anyone hears of
 * them) and events (stored, then published). It owns the clocks the pure modules need: door
 * hold timers, the end of momentary warnings, and the daily 人房不一致 check.
 *
 *   bus `access`  (a stored, resolved pass)  -> duress, misuse, stranger, burst, late night,
 *                                                several doors, "seen again"
 *   bus `points`  (door / bolt changes)      -> forced open, held open
 *   bus `alarm`   (profile alarms)           -> maintenance events
 *   daily at notSeenCheckAt (local)          -> tenant not seen
 *
 * Passes are evaluated in a microtask after the bus delivers them: when a lock's read produces a
 * pass AND a profile alarm (duress, five denials), the device runtime handles all firings of that
 * read in one synchronous loop, so by the time the rules look, the profile's alarm is in the
 * alarm service and the rules can see that it is already raised (no double alarms).
 */
import type { EventBus } from '../../core/event-bus.js';
import type { Alarm, DeviceEvent, DeviceLocation, Point, PointValue } from '../../core/types.js';
import type { AlarmService, RaiseInput } from '../../alarms/alarm-service.js';
import { ulidFactory, type IdFactory } from '../../alarms/ulid.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AccessRecord } from '../types.js';
import { ACCESS_RULES, accessRuleOf, alarmRuleName, type AccessRuleId } from './catalog.js';
import { ThresholdResolver, type AccessRulesConfig } from './config.js';
import { credentialMisuseDecision } from './credential-misuse.js';
import { DoorRules, type DoorReading } from './door-rules.js';
import { duressDecision } from './duress.js';
import { InvalidBurstRule } from './invalid-burst.js';
import { LateNightRule } from './late-night.js';
import { LocalTime } from './local-time.js';
import { maintenanceDecision, type MaintenanceDecision } from './maintenance.js';
import { MultiDoorRule } from './multi-door.js';
import { GATEWAY_DEVICE, NotSeenRule } from './not-seen.js';
import { profileCoverage } from './profile-coverage.js';
import { strangerDecision } from './stranger.js';
import type { DoorInfo, RuleDecision, RuleDirectory } from './types.js';

/** The `profile` of alarms and events not raised on a known door (the daily check's `gateway`). */
export const ACCESS_RULES_PROFILE = 'access-rules';
const SWEEP_EVERY_MS = 3_600_000;

export interface AccessRulesRunnerOptions {
  config: AccessRulesConfig;
  site: string;
  /** The site's time zone (config `site.timezone`); `access.rules.timezone` overrides it. */
  timezone?: string;
  bus: EventBus;
  alarms: AlarmService;
  /** Where the rules' own events (stranger, maintenance) are stored before they are published. */
  events: { appendEvent(event: DeviceEvent): void };
  directory: RuleDirectory;
  log: Logger;
  /** ms since epoch; defaults to Date.now. */
  clock?: () => number;
  /** How often timers are checked, ms (default 1000). */
  tickMs?: number;
  newId?: IdFactory;
}

interface Hold {
  door: string;
  rule: string;
  until: number;
}

export interface AccessRulesStats {
  passes: number;
  raised: Partial<Record<AccessRuleId, number>>;
  cleared: number;
  events: number;
  errors: number;
}

export class AccessRulesRunner {
  private readonly opts: AccessRulesRunnerOptions;
  private readonly clock: () => number;
  private readonly newId: IdFactory;
  private readonly thresholds: ThresholdResolver;
  readonly local: LocalTime;
  private readonly doors = new DoorRules();
  private readonly burst = new InvalidBurstRule();
  private readonly lateNight: LateNightRule;
  private readonly multiDoor = new MultiDoorRule();
  private readonly notSeen = new NotSeenRule();
  /** Momentary warnings and when they end, by device + alarm rule. */
  private readonly holds = new Map<string, Hold>();
  private nextHoldAt = Number.POSITIVE_INFINITY;
  private readonly holdMs: number;
  private readonly checkAt: { hh: number; mm: number };
  private nextCheckAt = Number.POSITIVE_INFINITY;
  private lastSweep = 0;
  private queue: AccessRecord[] = [];
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: Array<() => void> = [];
  private readonly counters: AccessRulesStats = { passes: 0, raised: {}, cleared: 0, events: 0, errors: 0 };

  constructor(options: AccessRulesRunnerOptions) {
    this.opts = options;
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? ulidFactory(this.clock);
    this.thresholds = new ThresholdResolver(options.config);
    this.local = new LocalTime(options.config.timezone ?? options.timezone ?? 'Asia/Shanghai');
    this.lateNight = new LateNightRule(this.local);
    this.holdMs = options.config.warningHoldMin * 60_000;
    const [hh, mm] = options.config.notSeenCheckAt.split(':').map(Number);
    this.checkAt = { hh: hh!, mm: mm! };
  }

  /** Subscribe to the bus, pick up alarms still active from before a restart, start the timers. */
  start(): void {
    const { bus } = this.opts;
    this.restoreActive();
    this.unsubscribe = [
      bus.on('access', (r) => this.enqueue(r)),
      bus.on('points', (b) => this.handlePoints(b.device, b.points)),
      bus.on('alarm', (a) => this.handleAlarm(a)),
    ];
    const now = this.clock();
    this.nextCheckAt = this.local.nextAt(now, this.checkAt.hh, this.checkAt.mm);
    this.lastSweep = now;
    this.timer = setInterval(() => this.tick(this.clock()), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once every pass delivered so far has been evaluated (tests, benches). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  stats(): AccessRulesStats {
    return { ...this.counters, raised: { ...this.counters.raised } };
  }

  /** When the next daily check is due (ms). */
  get nextDailyCheckAt(): number {
    return this.nextCheckAt;
  }

  /** Timers: door stages, the end of momentary warnings, the daily check, memory sweeps. */
  tick(now: number): void {
    const due = this.doors.nextDeadline();
    if (due !== undefined && due <= now) this.applyAll(this.doors.tick(now));
    if (this.nextHoldAt <= now) this.endHolds(now);
    if (now >= this.nextCheckAt) {
      this.nextCheckAt = this.local.nextAt(now, this.checkAt.hh, this.checkAt.mm);
      this.runDailyCheck(now);
    }
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      this.burst.sweep(now);
      this.lateNight.sweep(now);
      this.multiDoor.sweep(now);
    }
  }

  /** The 人房不一致 check (normally run by tick() once a day at notSeenCheckAt). */
  runDailyCheck(now: number): void {
    try {
      const { directory } = this.opts;
      const decisions = this.notSeen.check(now, directory.registeredTenants(now), (t) => directory.lastSeen(t), (b) => this.thresholds.for(b).notSeen);
      this.opts.log.info({ raised: decisions.filter((d) => d.action === 'raise').length, cleared: decisions.filter((d) => d.action === 'clear').length }, 'daily tenant check done');
      this.applyAll(decisions);
    } catch (err) {
      this.counters.errors++;
      this.opts.log.error({ err: errorMessage(err) }, 'daily tenant check failed');
    }
  }

  /** Evaluate one pass now (the bus path defers it to a microtask; see the file comment). */
  handleAccess(record: AccessRecord): void {
    this.counters.passes++;
    const info = this.opts.directory.door(record.door);
    const t = this.thresholds.for(record.building ?? info?.building);
    const cover = profileCoverage(info?.profile);
    const decisions: Array<RuleDecision | undefined> = [];
    decisions.push(this.notSeen.seen(record));
    if (record.duress) {
      const profileTriggeredAt = cover.duress === undefined ? undefined : this.lastTrigger(record.door, cover.duress);
      decisions.push(duressDecision(record, { enabled: t.duress.enabled, profileTriggeredAt }));
    }
    decisions.push(credentialMisuseDecision(record, t.credentialMisuse.enabled));
    const stranger = strangerDecision(record, t.stranger.enabled);
    if (stranger) {
      this.emitEvent(record.door, info, 'stranger', record.ts, stranger.fields);
      decisions.push(stranger);
    }
    const lockOwn = cover.invalidCredential;
    decisions.push(this.burst.evaluate(record, t.invalidBurst, () => lockOwn !== undefined && this.activeAlarm(record.door, lockOwn) !== undefined));
    decisions.push(this.lateNight.evaluate(record, t.lateNight));
    decisions.push(this.multiDoor.evaluate(record, t.multiDoor));
    this.applyAll(decisions.filter((d): d is RuleDecision => d !== undefined));
  }

  /** A batch of changed points: the door contact and bolt of known doors. */
  handlePoints(device: string, points: readonly Point[]): void {
    const info = this.opts.directory.door(device);
    if (!info) return;
    const cover = profileCoverage(info.profile);
    const reading: DoorReading = { door: device, ts: 0 };
    for (const p of points) {
      if (p.point === cover.doorPoint) reading.open = p.quality === 'good' ? doorOpen(p.value) : null;
      else if (p.point === cover.lockPoint) reading.locked = p.quality === 'good' ? boltLocked(p.value) : null;
      else continue;
      reading.ts = Math.max(reading.ts, p.ts);
    }
    if (reading.open === undefined && reading.locked === undefined) return;
    const t = this.thresholds.for(info.building);
    const decisions = this.doors.update(reading, {
      forced: t.doorForced.enabled && cover.forced === undefined && cover.lockPoint !== undefined,
      warnAfterS: t.heldOpen.enabled && cover.heldOpen === undefined ? t.heldOpen.warnAfterS : 0,
      alarmAfterS: t.heldOpen.enabled ? t.heldOpen.alarmAfterS : 0,
    });
    this.applyAll(decisions);
  }

  /** An alarm message on the bus: profile maintenance alarms become maintenance events. */
  handleAlarm(alarm: Alarm): void {
    const d = maintenanceDecision(alarm);
    if (!d) return;
    const info = this.opts.directory.door(alarm.device);
    if (!this.thresholds.for(info?.building ?? alarm.location?.building).maintenance.enabled) return;
    this.emitMaintenance(d, info);
  }

  private enqueue(record: AccessRecord): void {
    this.queue.push(record);
    if (this.draining) return;
    this.draining = Promise.resolve().then(() => {
      // Records that arrive while draining join this drain.
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        for (const r of batch) {
          try {
            this.handleAccess(r);
          } catch (err) {
            this.counters.errors++;
            this.opts.log.error({ err: errorMessage(err), access: r.id, door: r.door }, 'access rules failed on a pass');
          }
        }
      }
      this.draining = undefined;
    });
  }

  private applyAll(decisions: readonly RuleDecision[]): void {
    for (const d of decisions) {
      try {
        this.apply(d);
      } catch (err) {
        // A store failure must be loud, but one decision must not stop the others.
        this.counters.errors++;
        this.opts.log.error({ err: errorMessage(err), rule: d.rule, door: d.door, action: d.action }, 'access rule decision could not be applied');
      }
    }
  }

  private apply(d: RuleDecision): void {
    const rule = alarmRuleName(d.rule, d.subject);
    const key = holdKey(d.door, rule);
    const by = `access-rule:${d.rule}`;
    if (d.action === 'clear') {
      this.holds.delete(key);
      if (this.opts.alarms.clear({ device: d.door, rule, ts: d.ts, by })) this.counters.cleared++;
      return;
    }
    const def = ACCESS_RULES[d.rule];
    const info = d.door === GATEWAY_DEVICE ? undefined : this.opts.directory.door(d.door);
    const input: RaiseInput = {
      device: d.door,
      profile: info?.profile?.id ?? ACCESS_RULES_PROFILE,
      rule,
      name: def.name,
      code: def.code,
      severity: def.severity,
      latch: def.ending === 'latched',
      silent: def.silent ?? false,
      restore: def.ending === 'condition' && def.restoreSia !== undefined,
      fields: d.fields,
      ts: d.ts,
      by,
    };
    if (def.restoreSia !== undefined) input.restoreSia = def.restoreSia;
    const location = locationOf(info, d.fields);
    if (location) input.location = location;
    this.opts.alarms.raise(input);
    this.counters.raised[d.rule] = (this.counters.raised[d.rule] ?? 0) + 1;
    if (def.ending === 'momentary') this.hold(key, d.door, rule, d.ts + this.holdMs);
  }

  private hold(key: string, door: string, rule: string, until: number): void {
    const prev = this.holds.get(key);
    const end = Math.max(prev?.until ?? 0, until);
    this.holds.set(key, { door, rule, until: end });
    this.nextHoldAt = Math.min(this.nextHoldAt, end);
  }

  private endHolds(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [key, h] of this.holds) {
      if (h.until > now) {
        next = Math.min(next, h.until);
        continue;
      }
      this.holds.delete(key);
      try {
        if (this.opts.alarms.clear({ device: h.door, rule: h.rule, ts: now, by: 'access-rules:hold-ended' })) this.counters.cleared++;
      } catch (err) {
        this.counters.errors++;
        this.opts.log.error({ err: errorMessage(err), rule: h.rule, door: h.door }, 'momentary warning could not be ended');
      }
    }
    this.nextHoldAt = next;
  }

  /** After a restart: door alarms, not-seen warnings and momentary warnings still active. */
  private restoreActive(): void {
    const { alarms, directory } = this.opts;
    for (const a of alarms.active()) {
      const rule = accessRuleOf(a.rule);
      if (rule === undefined) continue;
      const def = ACCESS_RULES[rule];
      const cover = profileCoverage(directory.door(a.device)?.profile);
      if (rule === 'tenant_not_seen') {
        const tenant = a.rule.slice(a.rule.indexOf(':') + 1);
        if (tenant) this.notSeen.restore(tenant, a.device);
      } else if (rule === 'door_forced' && cover.forced === undefined) this.doors.restoreRaised(a.device, rule);
      else if (rule === 'door_held_open' && cover.heldOpen === undefined) this.doors.restoreRaised(a.device, rule);
      else if (rule === 'door_held_open_alarm') this.doors.restoreRaised(a.device, rule);
      else if (def.ending === 'momentary') {
        const last = alarms.record(a.id)?.lastTriggerAt ?? a.raisedAt;
        this.hold(holdKey(a.device, a.rule), a.device, a.rule, last + this.holdMs);
      }
    }
  }

  private activeAlarm(device: string, rule: string): Alarm | undefined {
    return this.opts.alarms.active().find((a) => a.device === device && a.rule === rule);
  }

  private lastTrigger(device: string, rule: string): number | undefined {
    const a = this.activeAlarm(device, rule);
    if (!a) return undefined;
    return this.opts.alarms.record(a.id)?.lastTriggerAt ?? a.raisedAt;
  }

  private emitMaintenance(d: MaintenanceDecision, info: DoorInfo | undefined): void {
    this.emitEvent(d.alarm.device, info, 'maintenance', d.alarm.raisedAt, {
      issue: d.issue,
      status: d.status,
      alarm: d.alarm.restores ?? d.alarm.id,
      rule: d.alarm.rule,
      severity: d.alarm.severity,
    }, d.alarm.profile, d.alarm.location);
  }

  private emitEvent(
    device: string,
    info: DoorInfo | undefined,
    event: string,
    ts: number,
    fields: Record<string, PointValue>,
    profile?: string,
    fallbackLocation?: DeviceLocation,
  ): void {
    const e: DeviceEvent = {
      id: this.newId(),
      site: this.opts.site,
      device,
      profile: profile ?? info?.profile?.id ?? ACCESS_RULES_PROFILE,
      event,
      kind: 'device',
      ts,
      fields,
    };
    const location = locationOf(info, fields) ?? fallbackLocation;
    if (location) e.location = location;
    try {
      // Stored first: the event log is the evidence; the bus is only for speed.
      this.opts.events.appendEvent(e);
    } catch (err) {
      this.counters.errors++;
      this.opts.log.error({ err: errorMessage(err), device, event }, 'access rule event could not be stored');
      return;
    }
    this.counters.events++;
    this.opts.bus.emit('event', e);
  }
}

function holdKey(door: string, rule: string): string {
  return `${door}\u0000${rule}`;
}

function doorOpen(v: PointValue): boolean | null {
  if (v === 'open' || v === true) return true;
  if (v === 'closed' || v === false) return false;
  return null;
}

function boltLocked(v: PointValue): boolean | null {
  if (v === 'locked' || v === true) return true;
  if (v === 'unlocked' || v === false) return false;
  return null;
}

/** The door's configured location with the registry's building and room laid over it. */
function locationOf(info: DoorInfo | undefined, fields: Record<string, PointValue>): DeviceLocation | undefined {
  const loc: DeviceLocation = { ...info?.location };
  const building = info?.building ?? (typeof fields.building === 'string' ? fields.building : undefined);
  const room = info?.room ?? (typeof fields.room === 'string' ? fields.room : undefined);
  if (building !== undefined) loc.building = building;
  if (room !== undefined) loc.room = room;
  return Object.keys(loc).length > 0 ? loc : undefined;
}
