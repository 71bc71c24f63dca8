/**
 * The gateway's durable store: one SQLite file `<storage.dir>/shouwang.db`. The API is narrow
 * and synchronous on purpose — better-sqlite3 is synchronous, and "durable" here means the
 * insert call returned after SQLite fsync'd the WAL (synchronous=FULL). Callers that must not
 * announce anything before it is on disk (the alarm service) simply call, then emit.
 *
 * Tables: alarms (+ append-only transition log), device events / access passes (append-only),
 * device status history (append-only). The alarm outbox is built on top later (see migrations.ts).
 */
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import type {
  Alarm,
  AlarmState,
  Availability,
  DeviceEvent,
  DeviceLocation,
  DeviceStatus,
  PointValue,
  Severity,
} from '../core/types.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { Logger } from '../log.js';
import { migrate, schemaVersion as readSchemaVersion } from './migrations.js';
import { OutboxTable } from './outbox.js';
import { AccessLogTable } from '../access/access-log-table.js';
import { RegistryTable } from '../access/registry-table.js';
import { SpoolTable } from './spool.js';
import { openSqlite, storeError, type SqliteDatabase } from './sqlite.js';

export const STORE_FILE_NAME = 'shouwang.db';

export type TransitionAction = 'raise' | 'transition' | 'retrigger' | 'clear';

/** One line of an alarm's history. `from` is null for the raise. */
export interface AlarmTransition {
  seq: number;
  alarmId: string;
  action: TransitionAction;
  from: AlarmState | null;
  to: AlarmState;
  at: number;
  /** Who: a user name for people, `rule:<id>` / `gateway` / `outbox` for the machine. */
  by: string;
  note?: string;
}

/** An alarm with the bookkeeping the store keeps beside the domain object. */
export interface AlarmRecord {
  alarm: Alarm;
  /** Insertion order (never reused). */
  seq: number;
  /** Produce a restore alarm when the condition clears. */
  restoreOnClear: boolean;
  /** SIA code of that restore, when it differs from the alarm's (TA -> TR). */
  restoreSia?: string;
  /** Is the triggering condition still present? */
  conditionActive: boolean;
  /** How often the rule fired again while this alarm was active (no duplicate alarm is made). */
  retriggers: number;
  lastTriggerAt: number;
}

export interface AlarmQuery {
  device?: string;
  /** raisedAt >= since (ms). */
  since?: number;
  /** Newest first; default 100, at most 10 000. */
  limit?: number;
}

export interface EventQuery {
  device?: string;
  kind?: 'access' | 'device';
  since?: number;
  limit?: number;
}

export interface StatusQuery {
  device?: string;
  since?: number;
  limit?: number;
}

export type StoreOptions =
  | { dir: string; log?: Logger; busyTimeoutMs?: number }
  /** In-memory, not durable: unit tests only. */
  | { memory: true; log?: Logger };

/** One audit record: who did what, when, to which target, and how it ended. */
export interface AuditRecord {
  ts: number;
  actor: string;
  role: string;
  via: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  result: 'ok' | 'denied' | 'failed';
  error?: string;
}

interface AuditRow {
  ts: number;
  actor: string;
  role: string;
  via: string;
  action: string;
  target: string;
  detail: string;
  result: string;
  error: string | null;
}

interface AlarmRow {
  seq: number;
  id: string;
  site: string;
  device: string;
  profile: string;
  rule: string;
  name_zh: string;
  name_en: string;
  cid: number | null;
  sia: string | null;
  severity: Severity;
  kind: 'alarm' | 'restore';
  latch: 0 | 1;
  silent: 0 | 1;
  restore_on_clear: 0 | 1;
  restore_sia: string | null;
  state: AlarmState;
  raised_at: number;
  updated_at: number;
  location: string | null;
  fields: string;
  restores: string | null;
  condition_active: 0 | 1;
  retriggers: number;
  last_trigger_at: number;
}

interface TransitionRow {
  seq: number;
  alarm_id: string;
  action: TransitionAction;
  from_state: AlarmState | null;
  to_state: AlarmState;
  at: number;
  by: string;
  note: string | null;
}

interface EventRow {
  id: string;
  site: string;
  device: string;
  profile: string;
  event: string;
  kind: 'access' | 'device';
  ts: number;
  fields: string;
  location: string | null;
}

interface StatusRow {
  device: string;
  availability: Availability;
  since: number;
  reason: string | null;
  consecutive_failures: number;
}

const MAX_LIMIT = 10_000;

function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  return Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
}

/**
 * `WHERE a = ? AND b >= ?` from the filters that are set (the value undefined means "no filter"),
 * with the arguments in order. Column expressions are constants of this file, never user input.
 */
function whereOf(filters: ReadonlyArray<readonly [string, string | number | undefined]>): { where: string; args: Array<string | number> } {
  const set = filters.filter((f): f is readonly [string, string | number] => f[1] !== undefined);
  return { where: set.length ? `WHERE ${set.map(([expr]) => expr).join(' AND ')}` : '', args: set.map(([, v]) => v) };
}

function parseJson<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}

function rowToRecord(row: AlarmRow): AlarmRecord {
  const alarm: Alarm = {
    id: row.id,
    site: row.site,
    device: row.device,
    profile: row.profile,
    rule: row.rule,
    name: { zh: row.name_zh, en: row.name_en },
    code: { ...(row.cid !== null ? { cid: row.cid } : {}), ...(row.sia !== null ? { sia: row.sia } : {}) },
    severity: row.severity,
    kind: row.kind,
    latch: row.latch === 1,
    silent: row.silent === 1,
    state: row.state,
    raisedAt: row.raised_at,
    updatedAt: row.updated_at,
    fields: parseJson<Record<string, PointValue>>(row.fields) ?? {},
  };
  const location = parseJson<DeviceLocation>(row.location);
  if (location !== undefined) alarm.location = location;
  if (row.restores !== null) alarm.restores = row.restores;
  const record: AlarmRecord = {
    alarm,
    seq: row.seq,
    restoreOnClear: row.restore_on_clear === 1,
    conditionActive: row.condition_active === 1,
    retriggers: row.retriggers,
    lastTriggerAt: row.last_trigger_at,
  };
  if (row.restore_sia !== null) record.restoreSia = row.restore_sia;
  return record;
}

function rowToTransition(row: TransitionRow): AlarmTransition {
  const t: AlarmTransition = {
    seq: row.seq,
    alarmId: row.alarm_id,
    action: row.action,
    from: row.from_state,
    to: row.to_state,
    at: row.at,
    by: row.by,
  };
  if (row.note !== null) t.note = row.note;
  return t;
}

function rowToEvent(row: EventRow): DeviceEvent {
  const e: DeviceEvent = {
    id: row.id,
    site: row.site,
    device: row.device,
    profile: row.profile,
    event: row.event,
    kind: row.kind,
    ts: row.ts,
    fields: parseJson<Record<string, PointValue>>(row.fields) ?? {},
  };
  const location = parseJson<DeviceLocation>(row.location);
  if (location !== undefined) e.location = location;
  return e;
}

function rowToStatus(row: StatusRow): DeviceStatus {
  const s: DeviceStatus = {
    device: row.device,
    availability: row.availability,
    since: row.since,
    consecutiveFailures: row.consecutive_failures,
  };
  if (row.reason !== null) s.reason = row.reason;
  return s;
}

function hasLocation(location: DeviceLocation | undefined): location is DeviceLocation {
  return location !== undefined && Object.keys(location).length > 0;
}

export class Store {
  /** The database file (or `:memory:`), named in every error. */
  readonly file: string;
  private readonly db: SqliteDatabase;
  private readonly stmt: {
    insertAlarm: Statement;
    insertTransition: Statement;
    setState: Statement;
    retrigger: Statement;
    clearCondition: Statement;
    getAlarm: Statement;
    openAlarms: Statement;
    openAlarmFor: Statement;
    transitions: Statement;
    insertEvent: Statement;
    insertStatus: Statement;
  };
  private closed = false;
  /** The alarm outbox (store/outbox.ts), in the same file so an alarm and its queue rows commit together. */
  readonly outbox: OutboxTable;
  /** The rental-housing registry tables (access/registry-table.ts, migration 5). */
  readonly registry: RegistryTable;
  /** The resolved access log (access/access-log-table.ts, migration 5). */
  readonly accessLog: AccessLogTable;
  /** The telemetry spool (store/spool.ts): InfluxDB batches kept while the database is unreachable. */
  readonly spool: SpoolTable;

  constructor(options: StoreOptions) {
    const memory = 'memory' in options;
    this.file = memory ? ':memory:' : join(options.dir, STORE_FILE_NAME);
    this.db = openSqlite(this.file, memory ? undefined : options.dir, memory ? {} : { busyTimeoutMs: options.busyTimeoutMs });
    try {
      const applied = migrate(this.db, this.file);
      if (applied.length > 0) options.log?.info({ file: this.file, applied }, 'store schema migrated');
      this.stmt = {
        insertAlarm: this.db.prepare(`INSERT INTO alarms
          (id, site, device, profile, rule, name_zh, name_en, cid, sia, severity, kind, latch, silent, restore_on_clear,
           restore_sia, state, raised_at, updated_at, location, fields, restores, condition_active, retriggers, last_trigger_at)
          VALUES (@id, @site, @device, @profile, @rule, @name_zh, @name_en, @cid, @sia, @severity, @kind, @latch, @silent,
           @restore_on_clear, @restore_sia, @state, @raised_at, @updated_at, @location, @fields, @restores, @condition_active, 0, @raised_at)`),
        insertTransition: this.db.prepare(`INSERT INTO alarm_transitions (alarm_id, action, from_state, to_state, at, by, note)
          VALUES (?, ?, ?, ?, ?, ?, ?)`),
        // Guarded by the expected current state so that a stale caller cannot overwrite a newer state.
        setState: this.db.prepare('UPDATE alarms SET state = ?, updated_at = ? WHERE id = ? AND state = ?'),
        retrigger: this.db.prepare(
          'UPDATE alarms SET retriggers = retriggers + 1, last_trigger_at = ?, condition_active = 1 WHERE id = ?',
        ),
        clearCondition: this.db.prepare('UPDATE alarms SET condition_active = 0 WHERE id = ?'),
        getAlarm: this.db.prepare('SELECT * FROM alarms WHERE id = ?'),
        openAlarms: this.db.prepare(`SELECT * FROM alarms WHERE state <> 'reset' AND kind = 'alarm' ORDER BY seq`),
        openAlarmFor: this.db.prepare(
          `SELECT * FROM alarms WHERE device = ? AND rule = ? AND state <> 'reset' AND kind = 'alarm' ORDER BY seq DESC LIMIT 1`,
        ),
        transitions: this.db.prepare('SELECT * FROM alarm_transitions WHERE alarm_id = ? ORDER BY seq'),
        insertEvent: this.db.prepare(`INSERT INTO device_events (id, site, device, profile, event, kind, ts, fields, location)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
        insertStatus: this.db.prepare(`INSERT INTO device_status (device, availability, since, reason, consecutive_failures)
          VALUES (?, ?, ?, ?, ?)`),
      };
      this.outbox = new OutboxTable(this.db, (action, fn) => this.run(action, fn));
      this.registry = new RegistryTable(this.db, (action, fn) => this.run(action, fn));
      this.accessLog = new AccessLogTable(this.db, (action, fn) => this.run(action, fn));
      this.spool = new SpoolTable(this.db, (action, fn) => this.run(action, fn));
    } catch (err) {
      this.db.close();
      throw storeError(this.file, 'prepare the database schema', err);
    }
  }

  /** Schema version of the open file. */
  schemaVersion(): number {
    return this.run('read the schema version', () => readSchemaVersion(this.db));
  }

  /** Run `fn` in one transaction (all or nothing, one fsync). Nested calls join the outer one. */
  transaction<T>(fn: () => T): T {
    return this.run('run a transaction', () => this.db.transaction(fn)());
  }

  // --- alarms -------------------------------------------------------------------------------

  /** Insert a new alarm and its `raise` transition (one transaction). */
  insertAlarm(alarm: Alarm, opts: { by: string; note?: string; restoreOnClear?: boolean; restoreSia?: string }): void {
    this.run(`insert alarm ${alarm.id}`, () =>
      this.db.transaction(() => {
        this.stmt.insertAlarm.run({
          id: alarm.id,
          site: alarm.site,
          device: alarm.device,
          profile: alarm.profile,
          rule: alarm.rule,
          name_zh: alarm.name.zh,
          name_en: alarm.name.en,
          cid: alarm.code.cid ?? null,
          sia: alarm.code.sia ?? null,
          severity: alarm.severity,
          kind: alarm.kind,
          latch: alarm.latch ? 1 : 0,
          silent: alarm.silent ? 1 : 0,
          restore_on_clear: opts.restoreOnClear ? 1 : 0,
          restore_sia: opts.restoreSia ?? null,
          state: alarm.state,
          raised_at: alarm.raisedAt,
          updated_at: alarm.updatedAt,
          location: hasLocation(alarm.location) ? JSON.stringify(alarm.location) : null,
          fields: JSON.stringify(alarm.fields ?? {}),
          restores: alarm.restores ?? null,
          // A restore records a condition that has ended; an alarm starts with its condition present.
          condition_active: alarm.kind === 'alarm' ? 1 : 0,
        });
        this.stmt.insertTransition.run(alarm.id, 'raise', null, alarm.state, alarm.raisedAt, opts.by, opts.note ?? null);
      })(),
    );
  }

  /**
   * Move an alarm from `from` to `to` and log it. Throws ALARM_STATE if the stored state is not
   * `from` (someone else moved it first) and ALARM_UNKNOWN if there is no such alarm.
   */
  transitionAlarm(t: { alarmId: string; from: AlarmState; to: AlarmState; at: number; by: string; note?: string }): void {
    this.run(`update alarm ${t.alarmId}`, () =>
      this.db.transaction(() => {
        const result = this.stmt.setState.run(t.to, t.at, t.alarmId, t.from);
        if (result.changes !== 1) {
          const row = this.stmt.getAlarm.get(t.alarmId) as AlarmRow | undefined;
          if (!row) throw new ShouwangError(ErrorCodes.ALARM_UNKNOWN, `no alarm ${t.alarmId}`, { details: { alarmId: t.alarmId } });
          throw new ShouwangError(ErrorCodes.ALARM_STATE, `alarm ${t.alarmId} is ${row.state}, not ${t.from}`, {
            details: { alarmId: t.alarmId, state: row.state, expected: t.from },
          });
        }
        this.stmt.insertTransition.run(t.alarmId, 'transition', t.from, t.to, t.at, t.by, t.note ?? null);
      })(),
    );
  }

  /** The rule fired again while the alarm is active: count it and log it; no new alarm. */
  recordRetrigger(alarmId: string, state: AlarmState, at: number, by: string, note?: string): void {
    this.run(`record a re-trigger of alarm ${alarmId}`, () =>
      this.db.transaction(() => {
        this.stmt.retrigger.run(at, alarmId);
        this.stmt.insertTransition.run(alarmId, 'retrigger', state, state, at, by, note ?? null);
      })(),
    );
  }

  /** The condition behind an alarm cleared (a latched alarm stays active; this only logs it). */
  recordConditionClear(alarmId: string, state: AlarmState, at: number, by: string, note?: string): void {
    this.run(`record the clear of alarm ${alarmId}`, () =>
      this.db.transaction(() => {
        this.stmt.clearCondition.run(alarmId);
        this.stmt.insertTransition.run(alarmId, 'clear', state, state, at, by, note ?? null);
      })(),
    );
  }

  getAlarm(id: string): AlarmRecord | undefined {
    return this.run(`read alarm ${id}`, () => {
      const row = this.stmt.getAlarm.get(id) as AlarmRow | undefined;
      return row ? rowToRecord(row) : undefined;
    });
  }

  /** Alarms (kind `alarm`) not yet reset, oldest first: what must survive a restart. */
  openAlarms(): AlarmRecord[] {
    return this.run('read open alarms', () => (this.stmt.openAlarms.all() as AlarmRow[]).map(rowToRecord));
  }

  /** The open alarm of a device+rule, if any. */
  openAlarmFor(device: string, rule: string): AlarmRecord | undefined {
    return this.run(`read the open alarm of ${device}/${rule}`, () => {
      const row = this.stmt.openAlarmFor.get(device, rule) as AlarmRow | undefined;
      return row ? rowToRecord(row) : undefined;
    });
  }

  /** Alarms newest first. */
  listAlarms(q: AlarmQuery = {}): AlarmRecord[] {
    const { where, args } = whereOf([['device = ?', q.device], ['raised_at >= ?', q.since]]);
    const sql = `SELECT * FROM alarms ${where} ORDER BY raised_at DESC, seq DESC LIMIT ?`;
    return this.run('list alarms', () => (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as AlarmRow[]).map(rowToRecord));
  }

  /** An alarm's history, oldest first. */
  alarmTransitions(alarmId: string): AlarmTransition[] {
    return this.run(`read the history of alarm ${alarmId}`, () =>
      (this.stmt.transitions.all(alarmId) as TransitionRow[]).map(rowToTransition),
    );
  }

  // --- device events / access passes ----------------------------------------------------------

  appendEvent(e: DeviceEvent): void {
    this.run(`append event ${e.id}`, () => {
      this.stmt.insertEvent.run(
        e.id,
        e.site,
        e.device,
        e.profile,
        e.event,
        e.kind,
        e.ts,
        JSON.stringify(e.fields ?? {}),
        hasLocation(e.location) ? JSON.stringify(e.location) : null,
      );
    });
  }

  /** Events newest first. */
  listEvents(q: EventQuery = {}): DeviceEvent[] {
    const { where, args } = whereOf([['device = ?', q.device], ['kind = ?', q.kind], ['ts >= ?', q.since]]);
    const sql = `SELECT * FROM device_events ${where} ORDER BY ts DESC, seq DESC LIMIT ?`;
    return this.run('list events', () => (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as EventRow[]).map(rowToEvent));
  }

  // --- audit ---------------------------------------------------------------------------------

  /** Append one audit record (commands, resets, configuration changes). */
  appendAudit(r: AuditRecord): void {
    this.run(`append an audit record for ${r.action}`, () => {
      this.db
        .prepare('INSERT INTO audit (ts, actor, role, via, action, target, detail, result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.ts, r.actor, r.role, r.via, r.action, r.target, JSON.stringify(r.detail), r.result, r.error ?? null);
    });
  }

  /** Audit records newest first. */
  listAudit(q: { target?: string; since?: number; limit?: number } = {}): AuditRecord[] {
    const { where, args } = whereOf([['target = ?', q.target], ['ts >= ?', q.since]]);
    const sql = `SELECT * FROM audit ${where} ORDER BY seq DESC LIMIT ?`;
    return this.run('list audit records', () =>
      (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as AuditRow[]).map((row) => ({
        ts: row.ts,
        actor: row.actor,
        role: row.role,
        via: row.via,
        action: row.action,
        target: row.target,
        detail: JSON.parse(row.detail) as Record<string, unknown>,
        result: row.result as AuditRecord['result'],
        ...(row.error === null ? {} : { error: row.error }),
      })),
    );
  }

  // --- device status history ----------------------------------------------------------------

  appendStatus(s: DeviceStatus): void {
    this.run(`append the status of ${s.device}`, () => {
      this.stmt.insertStatus.run(s.device, s.availability, s.since, s.reason ?? null, s.consecutiveFailures);
    });
  }

  /** Status changes newest first. */
  statusHistory(q: StatusQuery = {}): DeviceStatus[] {
    const { where, args } = whereOf([['device = ?', q.device], ['since >= ?', q.since]]);
    const sql = `SELECT * FROM device_status ${where} ORDER BY since DESC, seq DESC LIMIT ?`;
    return this.run('read status history', () =>
      (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as StatusRow[]).map(rowToStatus),
    );
  }

  /**
   * The raw connection, for store-layer modules built on this one (the alarm outbox adds its
   * tables by migration and its own statements). Not for use outside `store/`.
   */
  get database(): SqliteDatabase {
    return this.db;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Checkpoint the WAL into the main file and close. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.file !== ':memory:') this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A failed checkpoint loses nothing: the WAL is replayed at the next open.
    } finally {
      this.db.close();
    }
  }

  private run<T>(action: string, fn: () => T): T {
    if (this.closed) throw new ShouwangError(ErrorCodes.STORE, `${this.file}: cannot ${action}: the store is closed`, { details: { file: this.file } });
    try {
      return fn();
    } catch (err) {
      throw storeError(this.file, action, err);
    }
  }
}

/** Open `<dir>/shouwang.db` (creating dir and file), migrate it, and return the store. */
export function openStore(options: StoreOptions): Store {
  return new Store(options);
}
