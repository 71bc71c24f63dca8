/**
 * The police receiver's own store: every alarm that reached the station by any intake
 * (DC-09, HTTP webhook, MQTT), its operator state (new -> acknowledged -> dispatched), the
 * line lost/restored history, and the outbox of acknowledgements still to be delivered back
 * to the gateway. SQLite in the receiver's data dir, WAL + synchronous=FULL (store/sqlite.ts):
 * an alarm is committed before the DC-09 ACK goes out, and an acknowledgement survives a
 * receiver restart until the gateway has taken it.
 *
 * One alarm, one row, however many copies arrive: the gateway may send the same alarm on
 * several paths (DC-09 and webhook), and a transmitter retries when our ACK is lost.
 * - With an alarmId (JSON intakes) the id decides.
 * - Otherwise (DC-09 carries no alarm id) the same account + sequence + event code + kind
 *   within `dedupeWindowMs` of the first copy is the same alarm. A later JSON copy fills in
 *   the alarmId and whatever fields the DC-09 copy lacked.
 *
 * Listeners hear every change (the console's live stream); a listener that throws is logged
 * and does not disturb the store or other listeners.
 */
import { join } from 'node:path';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { openSqlite, storeError, type SqliteDatabase } from '../store/sqlite.js';
import type { CodeSeverity } from './receiver-codes.js';

export type IntakeKind = 'dc09' | 'http' | 'mqtt';
export type BoardState = 'new' | 'acknowledged' | 'dispatched';
export type OperatorAction = 'acknowledged' | 'dispatched';
export type AckChannel = 'http' | 'mqtt';

export interface BoardLocation {
  device?: string;
  building?: string;
  room?: string;
  floor?: string;
  address?: string;
  lat?: number;
  lon?: number;
}

/** What an intake hands the board: one event of one message. */
export interface BoardAlarmInput {
  intake: IntakeKind;
  /** Upper-case hex account. */
  account: string;
  seq?: number;
  alarmId?: string;
  site?: string;
  protocol: 'ADM-CID' | 'SIA-DCS' | 'json';
  code: { cid?: number; sia?: string };
  kind: 'alarm' | 'restore';
  zone?: number;
  group?: number;
  name: { zh: string; en: string };
  severity: CodeSeverity;
  location: BoardLocation;
  /** Where the location came from, e.g. `zone`, `dc09`, `json`, `zone+dc09`. */
  locationSource?: string;
  cameraUrl?: string;
  /** When the button was pressed / the condition started (JSON raisedAt). */
  raisedAt?: number;
  /** The DC-09 transmitter's timestamp. */
  transmitterAt?: number;
  receivedAt: number;
  silent?: boolean;
  restores?: string;
  /** Raw data block or text, for the record. */
  detail?: string;
}

export interface BoardAlarm extends Omit<BoardAlarmInput, 'intake' | 'receivedAt'> {
  id: number;
  intakes: IntakeKind[];
  state: BoardState;
  firstSeen: number;
  lastSeen: number;
  copies: number;
  /** Best known press time: raisedAt, else the transmitter's time, else first receipt. */
  pressedAt: number;
  ackBy?: string;
  ackAt?: number;
  dispatchedBy?: string;
  dispatchedAt?: number;
  note?: string;
}

export interface LineEvent {
  id: number;
  account: string;
  event: 'lost' | 'restored';
  at: number;
}

export interface AckDelivery {
  id: number;
  alarm: number;
  channel: AckChannel;
  account: string;
  /** URL (http) or topic (mqtt). */
  target: string;
  /** The operatorAck JSON, exactly as sent. */
  body: string;
  createdAt: number;
  attempts: number;
  nextAt: number;
  lastError?: string;
  status: 'pending' | 'delivered' | 'expired';
  doneAt?: number;
}

export type BoardChange =
  | { type: 'alarm'; alarm: BoardAlarm; created: boolean }
  | { type: 'line'; line: LineEvent }
  | { type: 'ack-delivery'; delivery: AckDelivery };

export interface AlarmBoardOptions {
  log: Logger;
  dedupeWindowMs?: number;
  now?: () => number;
}

/** Board migrations (PRAGMA user_version). Append-only: never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE alarms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id        TEXT UNIQUE,
    account         TEXT    NOT NULL,
    seq             INTEGER,
    site            TEXT,
    protocol        TEXT    NOT NULL,
    intakes         TEXT    NOT NULL,
    cid             INTEGER,
    sia             TEXT,
    kind            TEXT    NOT NULL CHECK (kind IN ('alarm','restore')),
    zone            INTEGER,
    grp             INTEGER,
    name_zh         TEXT    NOT NULL,
    name_en         TEXT    NOT NULL,
    severity        TEXT    NOT NULL CHECK (severity IN ('alarm','trouble','info')),
    location        TEXT    NOT NULL DEFAULT '{}',
    location_source TEXT,
    camera_url      TEXT,
    raised_at       INTEGER,
    transmitter_at  INTEGER,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    copies          INTEGER NOT NULL DEFAULT 1,
    silent          INTEGER NOT NULL DEFAULT 0,
    restores        TEXT,
    detail          TEXT,
    state           TEXT    NOT NULL DEFAULT 'new' CHECK (state IN ('new','acknowledged','dispatched')),
    ack_by          TEXT,
    ack_at          INTEGER,
    dispatched_by   TEXT,
    dispatched_at   INTEGER,
    note            TEXT
  );
  CREATE INDEX alarms_match ON alarms(account, seq, first_seen);
  CREATE INDEX alarms_open ON alarms(state, kind, severity) WHERE state = 'new';

  CREATE TABLE line_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT    NOT NULL,
    event   TEXT    NOT NULL CHECK (event IN ('lost','restored')),
    at      INTEGER NOT NULL
  );

  CREATE TABLE ack_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm      INTEGER NOT NULL REFERENCES alarms(id),
    channel    TEXT    NOT NULL CHECK (channel IN ('http','mqtt')),
    account    TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT,
    status     TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','delivered','expired')),
    done_at    INTEGER
  );
  CREATE INDEX ack_outbox_due ON ack_outbox(channel, next_at) WHERE status = 'pending';
  `,
];

interface AlarmRow {
  id: number;
  alarm_id: string | null;
  account: string;
  seq: number | null;
  site: string | null;
  protocol: BoardAlarmInput['protocol'];
  intakes: string;
  cid: number | null;
  sia: string | null;
  kind: 'alarm' | 'restore';
  zone: number | null;
  grp: number | null;
  name_zh: string;
  name_en: string;
  severity: CodeSeverity;
  location: string;
  location_source: string | null;
  camera_url: string | null;
  raised_at: number | null;
  transmitter_at: number | null;
  first_seen: number;
  last_seen: number;
  copies: number;
  silent: number;
  restores: string | null;
  detail: string | null;
  state: BoardState;
  ack_by: string | null;
  ack_at: number | null;
  dispatched_by: string | null;
  dispatched_at: number | null;
  note: string | null;
}

interface OutboxRow {
  id: number;
  alarm: number;
  channel: AckChannel;
  account: string;
  target: string;
  body: string;
  created_at: number;
  attempts: number;
  next_at: number;
  last_error: string | null;
  status: AckDelivery['status'];
  done_at: number | null;
}

/** Copy the defined values only, so optional fields stay absent rather than `undefined`. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

function toAlarm(r: AlarmRow): BoardAlarm {
  return defined({
    id: r.id,
    alarmId: r.alarm_id ?? undefined,
    account: r.account,
    seq: r.seq ?? undefined,
    site: r.site ?? undefined,
    protocol: r.protocol,
    intakes: r.intakes.split(',') as IntakeKind[],
    code: defined({ cid: r.cid ?? undefined, sia: r.sia ?? undefined }),
    kind: r.kind,
    zone: r.zone ?? undefined,
    group: r.grp ?? undefined,
    name: { zh: r.name_zh, en: r.name_en },
    severity: r.severity,
    location: JSON.parse(r.location) as BoardLocation,
    locationSource: r.location_source ?? undefined,
    cameraUrl: r.camera_url ?? undefined,
    raisedAt: r.raised_at ?? undefined,
    transmitterAt: r.transmitter_at ?? undefined,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    copies: r.copies,
    pressedAt: r.raised_at ?? r.transmitter_at ?? r.first_seen,
    silent: r.silent === 1,
    restores: r.restores ?? undefined,
    detail: r.detail ?? undefined,
    state: r.state,
    ackBy: r.ack_by ?? undefined,
    ackAt: r.ack_at ?? undefined,
    dispatchedBy: r.dispatched_by ?? undefined,
    dispatchedAt: r.dispatched_at ?? undefined,
    note: r.note ?? undefined,
  });
}

function toDelivery(r: OutboxRow): AckDelivery {
  return defined({
    id: r.id,
    alarm: r.alarm,
    channel: r.channel,
    account: r.account,
    target: r.target,
    body: r.body,
    createdAt: r.created_at,
    attempts: r.attempts,
    nextAt: r.next_at,
    lastError: r.last_error ?? undefined,
    status: r.status,
    doneAt: r.done_at ?? undefined,
  });
}

export const BOARD_FILE = 'board.sqlite';

export class AlarmBoard {
  private readonly listeners = new Set<(change: BoardChange) => void>();
  private readonly log: Logger;
  private readonly dedupeWindowMs: number;
  private readonly now: () => number;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly file: string,
    opts: AlarmBoardOptions,
  ) {
    this.log = opts.log.child({ module: 'alarm-board' });
    this.dedupeWindowMs = opts.dedupeWindowMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Open (creating) `<dataDir>/board.sqlite`; `:memory:` for a throwaway board. */
  static open(dataDir: string | ':memory:', opts: AlarmBoardOptions): AlarmBoard {
    const file = dataDir === ':memory:' ? ':memory:' : join(dataDir, BOARD_FILE);
    const db = openSqlite(file, dataDir === ':memory:' ? undefined : dataDir);
    try {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new ShouwangError(ErrorCodes.STORE, `${file}: written by a newer receiver (schema ${version}, this one knows ${MIGRATIONS.length})`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } catch (err) {
      db.close();
      throw storeError(file, 'prepare the alarm board', err);
    }
    return new AlarmBoard(db, file, opts);
  }

  /** The database, for modules that keep their tables next to the board (web auth). */
  get database(): SqliteDatabase {
    return this.db;
  }

  onChange(listener: (change: BoardChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: BoardChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'board listener threw');
      }
    }
  }

  // ---- alarms ----

  /**
   * Store one received alarm (committed, fsync'd) or merge it into the copy already stored.
   * Returns the stored alarm and whether it is new.
   */
  record(input: BoardAlarmInput): { alarm: BoardAlarm; created: boolean } {
    const result = this.db.transaction(() => {
      const existing = this.findCopy(input);
      if (existing) {
        this.merge(existing, input);
        return { id: existing.id, created: false };
      }
      const info = this.db
        .prepare(
          `INSERT INTO alarms (alarm_id, account, seq, site, protocol, intakes, cid, sia, kind, zone, grp, name_zh, name_en, severity,
             location, location_source, camera_url, raised_at, transmitter_at, first_seen, last_seen, silent, restores, detail)
           VALUES (@alarmId, @account, @seq, @site, @protocol, @intakes, @cid, @sia, @kind, @zone, @grp, @nameZh, @nameEn, @severity,
             @location, @locationSource, @cameraUrl, @raisedAt, @transmitterAt, @receivedAt, @receivedAt, @silent, @restores, @detail)`,
        )
        .run({
          alarmId: input.alarmId ?? null,
          account: input.account.toUpperCase(),
          seq: input.seq ?? null,
          site: input.site ?? null,
          protocol: input.protocol,
          intakes: input.intake,
          cid: input.code.cid ?? null,
          sia: input.code.sia ?? null,
          kind: input.kind,
          zone: input.zone ?? null,
          grp: input.group ?? null,
          nameZh: input.name.zh,
          nameEn: input.name.en,
          severity: input.severity,
          location: JSON.stringify(defined(input.location)),
          locationSource: input.locationSource ?? null,
          cameraUrl: input.cameraUrl ?? null,
          raisedAt: input.raisedAt ?? null,
          transmitterAt: input.transmitterAt ?? null,
          receivedAt: input.receivedAt,
          silent: input.silent ? 1 : 0,
          restores: input.restores ?? null,
          detail: input.detail ?? null,
        });
      return { id: Number(info.lastInsertRowid), created: true };
    });
    let out: { id: number; created: boolean };
    try {
      out = result.immediate();
    } catch (err) {
      throw storeError(this.file, 'store a received alarm', err);
    }
    const alarm = this.get(out.id)!;
    this.emit({ type: 'alarm', alarm, created: out.created });
    return { alarm, created: out.created };
  }

  private findCopy(input: BoardAlarmInput): AlarmRow | undefined {
    if (input.alarmId !== undefined) {
      const byId = this.db.prepare('SELECT * FROM alarms WHERE alarm_id = ?').get(input.alarmId) as AlarmRow | undefined;
      if (byId) return byId;
    }
    if (input.seq === undefined) return undefined;
    // Same account + seq + code + kind, close in time, and not already known as a different alarm.
    const candidates = this.db
      .prepare(
        `SELECT * FROM alarms WHERE account = ? AND seq = ? AND kind = ? AND first_seen >= ?
         AND (cid IS ? OR ? IS NULL OR cid IS NULL) AND (sia IS ? OR ? IS NULL OR sia IS NULL)
         ORDER BY id DESC`,
      )
      .all(
        input.account.toUpperCase(),
        input.seq,
        input.kind,
        input.receivedAt - this.dedupeWindowMs,
        input.code.cid ?? null,
        input.code.cid ?? null,
        input.code.sia ?? null,
        input.code.sia ?? null,
      ) as AlarmRow[];
    return candidates.find((r) => {
      if (input.alarmId !== undefined && r.alarm_id !== null && r.alarm_id !== input.alarmId) return false;
      // An alarm must be identified by at least one code both copies carry, or the zone (a restore of one zone is not another's).
      const sameCode = (r.cid !== null && r.cid === input.code.cid) || (r.sia !== null && r.sia === input.code.sia);
      const zoneOk = r.zone === null || input.zone === undefined || r.zone === input.zone;
      // A JSON copy carries both codes; a DC-09 copy one of them; one in common is enough.
      return (sameCode || (r.cid === null && r.sia === null)) && zoneOk;
    });
  }

  private merge(row: AlarmRow, input: BoardAlarmInput): void {
    const intakes = new Set(row.intakes.split(','));
    intakes.add(input.intake);
    const location = { ...defined(input.location), ...(JSON.parse(row.location) as BoardLocation) };
    this.db
      .prepare(
        `UPDATE alarms SET
           alarm_id = COALESCE(alarm_id, @alarmId), site = COALESCE(site, @site), intakes = @intakes,
           cid = COALESCE(cid, @cid), sia = COALESCE(sia, @sia), zone = COALESCE(zone, @zone), grp = COALESCE(grp, @grp),
           location = @location, location_source = COALESCE(location_source, @locationSource),
           camera_url = COALESCE(camera_url, @cameraUrl), raised_at = COALESCE(raised_at, @raisedAt),
           transmitter_at = COALESCE(transmitter_at, @transmitterAt), restores = COALESCE(restores, @restores),
           -- A JSON copy names the alarm as the gateway's profile does; prefer it over a code-table name.
           name_zh = CASE WHEN @protocol = 'json' AND protocol <> 'json' THEN @nameZh ELSE name_zh END,
           name_en = CASE WHEN @protocol = 'json' AND protocol <> 'json' THEN @nameEn ELSE name_en END,
           last_seen = MAX(last_seen, @receivedAt), copies = copies + 1
         WHERE id = @id`,
      )
      .run({
        id: row.id,
        alarmId: input.alarmId ?? null,
        site: input.site ?? null,
        intakes: [...intakes].join(','),
        cid: input.code.cid ?? null,
        sia: input.code.sia ?? null,
        zone: input.zone ?? null,
        grp: input.group ?? null,
        location: JSON.stringify(location),
        locationSource: input.locationSource ?? null,
        cameraUrl: input.cameraUrl ?? null,
        raisedAt: input.raisedAt ?? null,
        transmitterAt: input.transmitterAt ?? null,
        restores: input.restores ?? null,
        protocol: input.protocol,
        nameZh: input.name.zh,
        nameEn: input.name.en,
        receivedAt: input.receivedAt,
      });
  }

  get(id: number): BoardAlarm | undefined {
    const row = this.db.prepare('SELECT * FROM alarms WHERE id = ?').get(id) as AlarmRow | undefined;
    return row ? toAlarm(row) : undefined;
  }

  getByAlarmId(alarmId: string): BoardAlarm | undefined {
    const row = this.db.prepare('SELECT * FROM alarms WHERE alarm_id = ?').get(alarmId) as AlarmRow | undefined;
    return row ? toAlarm(row) : undefined;
  }

  /**
   * Newest first: the latest `limit` entries plus every real alarm still waiting for an officer,
   * however old (unacknowledged tests and restores may scroll away; an unanswered panic may not).
   */
  list(limit = 200): BoardAlarm[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM alarms WHERE (state = 'new' AND kind = 'alarm' AND severity = 'alarm')
           OR id IN (SELECT id FROM alarms ORDER BY id DESC LIMIT ?) ORDER BY id DESC`,
      )
      .all(limit) as AlarmRow[];
    return rows.map(toAlarm);
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM alarms').get() as { n: number }).n;
  }

  /**
   * An operator acknowledged or dispatched: move the state on and queue the acknowledgement
   * deliveries in the same transaction, so neither can exist without the other.
   * `dispatched` may skip `acknowledged` (dispatching implies it). Throws ALARM_UNKNOWN,
   * or ALARM_STATE when the alarm is already at or past that state.
   */
  applyAction(
    id: number,
    action: { action: OperatorAction; by: string; at: number; note?: string },
    deliveries: ReadonlyArray<{ channel: AckChannel; account: string; target: string; body: string }>,
  ): { alarm: BoardAlarm; deliveries: AckDelivery[] } {
    const tx = this.db.transaction(() => {
      const row = this.db.prepare('SELECT * FROM alarms WHERE id = ?').get(id) as AlarmRow | undefined;
      if (!row) throw new ShouwangError(ErrorCodes.ALARM_UNKNOWN, `no alarm ${id} on the board`);
      if (row.state === 'dispatched' || (row.state === 'acknowledged' && action.action === 'acknowledged')) {
        const by = row.state === 'dispatched' ? row.dispatched_by : row.ack_by;
        throw new ShouwangError(ErrorCodes.ALARM_STATE, `alarm ${id} is already ${row.state} (by ${by ?? '?'})`, {
          details: { state: row.state, by },
        });
      }
      if (action.action === 'acknowledged') {
        this.db.prepare(`UPDATE alarms SET state = 'acknowledged', ack_by = ?, ack_at = ?, note = COALESCE(?, note) WHERE id = ?`).run(action.by, action.at, action.note ?? null, id);
      } else {
        this.db
          .prepare(
            `UPDATE alarms SET state = 'dispatched', dispatched_by = ?, dispatched_at = ?,
               ack_by = COALESCE(ack_by, ?), ack_at = COALESCE(ack_at, ?), note = COALESCE(?, note) WHERE id = ?`,
          )
          .run(action.by, action.at, action.by, action.at, action.note ?? null, id);
      }
      const insert = this.db.prepare(
        `INSERT INTO ack_outbox (alarm, channel, account, target, body, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      return deliveries.map((d) => Number(insert.run(id, d.channel, d.account, d.target, d.body, action.at, action.at).lastInsertRowid));
    });
    let ids: number[];
    try {
      ids = tx.immediate();
    } catch (err) {
      if (err instanceof ShouwangError) throw err;
      throw storeError(this.file, 'record an operator action', err);
    }
    const alarm = this.get(id)!;
    this.emit({ type: 'alarm', alarm, created: false });
    return { alarm, deliveries: ids.map((d) => this.delivery(d)!) };
  }

  // ---- line supervision ----

  recordLine(account: string, event: 'lost' | 'restored', at = this.now()): LineEvent {
    const info = this.db.prepare('INSERT INTO line_events (account, event, at) VALUES (?, ?, ?)').run(account.toUpperCase(), event, at);
    const line: LineEvent = { id: Number(info.lastInsertRowid), account: account.toUpperCase(), event, at };
    this.emit({ type: 'line', line });
    return line;
  }

  /** Latest line event per account since `since` (the receiver's start: older states are not current). */
  lineStates(since = 0): LineEvent[] {
    return this.db
      .prepare(
        `SELECT l.id, l.account, l.event, l.at FROM line_events l
         JOIN (SELECT account, MAX(id) AS id FROM line_events WHERE at >= ? GROUP BY account) m ON m.id = l.id ORDER BY l.account`,
      )
      .all(since) as LineEvent[];
  }

  lineHistory(limit = 200): LineEvent[] {
    return this.db.prepare('SELECT id, account, event, at FROM line_events ORDER BY id DESC LIMIT ?').all(limit) as LineEvent[];
  }

  // ---- acknowledgement outbox ----

  delivery(id: number): AckDelivery | undefined {
    const row = this.db.prepare('SELECT * FROM ack_outbox WHERE id = ?').get(id) as OutboxRow | undefined;
    return row ? toDelivery(row) : undefined;
  }

  deliveriesFor(alarm: number): AckDelivery[] {
    return (this.db.prepare('SELECT * FROM ack_outbox WHERE alarm = ? ORDER BY id').all(alarm) as OutboxRow[]).map(toDelivery);
  }

  /** Pending deliveries of a channel that are due at `now`, oldest first. */
  dueDeliveries(channel: AckChannel, now: number, limit = 20): AckDelivery[] {
    return (
      this.db.prepare(`SELECT * FROM ack_outbox WHERE status = 'pending' AND channel = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?`).all(channel, now, limit) as OutboxRow[]
    ).map(toDelivery);
  }

  /** When the next pending delivery of a channel is due, if any. */
  nextDue(channel: AckChannel): number | undefined {
    const row = this.db.prepare(`SELECT MIN(next_at) AS at FROM ack_outbox WHERE status = 'pending' AND channel = ?`).get(channel) as { at: number | null };
    return row.at ?? undefined;
  }

  pendingDeliveries(): AckDelivery[] {
    return (this.db.prepare(`SELECT * FROM ack_outbox WHERE status = 'pending' ORDER BY id`).all() as OutboxRow[]).map(toDelivery);
  }

  deliverySucceeded(id: number, at: number): void {
    this.db.prepare(`UPDATE ack_outbox SET status = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?`).run(at, id);
    this.emitDelivery(id);
  }

  deliveryFailed(id: number, error: string, nextAt: number): void {
    this.db.prepare(`UPDATE ack_outbox SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?`).run(error.slice(0, 500), nextAt, id);
    this.emitDelivery(id);
  }

  deliveryExpired(id: number, error: string, at: number): void {
    this.db.prepare(`UPDATE ack_outbox SET status = 'expired', last_error = ?, done_at = ? WHERE id = ?`).run(error.slice(0, 500), at, id);
    this.emitDelivery(id);
  }

  private emitDelivery(id: number): void {
    const delivery = this.delivery(id);
    if (delivery) this.emit({ type: 'ack-delivery', delivery });
  }

  close(): void {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }
}
