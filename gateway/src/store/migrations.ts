/**
 * Schema migrations, applied in order at open, each in its own transaction and recorded in
 * `schema_version`. Migrations are append-only: never edit one that has shipped; add the next
 * number.
 */
import type { SqliteDatabase } from './sqlite.js';
import { ErrorCodes, ShouwangError } from '../errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const states = `'raised','queued','sent','delivered','acknowledged','reset'`;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'alarms, alarm transitions, device events, device status',
    sql: `
      CREATE TABLE alarms (
        -- Insertion order. AUTOINCREMENT: never reused, so an outbox can stream alarms by seq.
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT    NOT NULL UNIQUE,
        site            TEXT    NOT NULL,
        device          TEXT    NOT NULL,
        profile         TEXT    NOT NULL,
        rule            TEXT    NOT NULL,
        name_zh         TEXT    NOT NULL,
        name_en         TEXT    NOT NULL,
        cid             INTEGER,
        sia             TEXT,
        severity        TEXT    NOT NULL CHECK (severity IN ('emergency','critical','warning','info')),
        kind            TEXT    NOT NULL CHECK (kind IN ('alarm','restore')),
        latch           INTEGER NOT NULL CHECK (latch IN (0,1)),
        silent          INTEGER NOT NULL CHECK (silent IN (0,1)),
        restore_on_clear INTEGER NOT NULL DEFAULT 0 CHECK (restore_on_clear IN (0,1)),
        -- SIA code for the restore (e.g. TR for TA); Contact ID restores reuse the cid.
        restore_sia     TEXT,
        state           TEXT    NOT NULL CHECK (state IN (${states})),
        raised_at       INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        location        TEXT,
        fields          TEXT    NOT NULL DEFAULT '{}',
        restores        TEXT    REFERENCES alarms(id),
        -- Is the triggering condition still present? (A latched alarm outlives its condition.)
        condition_active INTEGER NOT NULL DEFAULT 1 CHECK (condition_active IN (0,1)),
        retriggers      INTEGER NOT NULL DEFAULT 0,
        last_trigger_at INTEGER NOT NULL
      );
      CREATE INDEX alarms_open ON alarms(device, rule) WHERE state <> 'reset' AND kind = 'alarm';
      CREATE INDEX alarms_device_time ON alarms(device, raised_at);
      CREATE INDEX alarms_time ON alarms(raised_at);

      CREATE TABLE alarm_transitions (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        alarm_id   TEXT    NOT NULL REFERENCES alarms(id),
        action     TEXT    NOT NULL CHECK (action IN ('raise','transition','retrigger','clear')),
        from_state TEXT    CHECK (from_state IS NULL OR from_state IN (${states})),
        to_state   TEXT    NOT NULL CHECK (to_state IN (${states})),
        at         INTEGER NOT NULL,
        by         TEXT    NOT NULL,
        note       TEXT
      );
      CREATE INDEX alarm_transitions_alarm ON alarm_transitions(alarm_id, seq);
      CREATE TRIGGER alarm_transitions_append_only BEFORE UPDATE ON alarm_transitions
        BEGIN SELECT RAISE(ABORT, 'alarm_transitions is append-only'); END;

      CREATE TABLE device_events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        id       TEXT    NOT NULL UNIQUE,
        site     TEXT    NOT NULL,
        device   TEXT    NOT NULL,
        profile  TEXT    NOT NULL,
        event    TEXT    NOT NULL,
        kind     TEXT    NOT NULL CHECK (kind IN ('access','device')),
        ts       INTEGER NOT NULL,
        fields   TEXT    NOT NULL DEFAULT '{}',
        location TEXT
      );
      CREATE INDEX device_events_device_ts ON device_events(device, ts);
      CREATE INDEX device_events_kind_ts ON device_events(kind, ts);
      -- Append-only: a pass log that can be edited is no evidence. (DELETE stays possible for retention.)
      CREATE TRIGGER device_events_append_only BEFORE UPDATE ON device_events
        BEGIN SELECT RAISE(ABORT, 'device_events is append-only'); END;

      CREATE TABLE device_status (
        seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
        device               TEXT    NOT NULL,
        availability         TEXT    NOT NULL CHECK (availability IN ('online','offline')),
        since                INTEGER NOT NULL,
        reason               TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX device_status_device_since ON device_status(device, since);
      CREATE TRIGGER device_status_append_only BEFORE UPDATE ON device_status
        BEGIN SELECT RAISE(ABORT, 'device_status is append-only'); END;
    `,
  },
  {
    version: 2,
    name: 'audit log of commands and changes',
    sql: `
      -- Who did what, when, to which target, and how it ended. Append-only.
      CREATE TABLE audit (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        ts      INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        role    TEXT    NOT NULL,
        via     TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        detail  TEXT    NOT NULL,
        result  TEXT    NOT NULL CHECK (result IN ('ok','denied','failed')),
        error   TEXT
      );
      CREATE INDEX audit_ts ON audit(ts);
      CREATE INDEX audit_target_ts ON audit(target, ts);
      CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    `,
  },
  {
    version: 3,
    name: 'alarm outbox: per-route delivery rows, per-account sequence numbers, path attempts',
    sql: `
      -- One row per (alarm, route): what must reach which receiver. Written in the same
      -- transaction as the alarm itself, so no alarm exists that is not queued.
      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        alarm_id        TEXT    NOT NULL REFERENCES alarms(id),
        route           TEXT    NOT NULL,
        account         TEXT    NOT NULL,
        -- DC-09 sequence 1..9999, fixed when queued: a retry (and a restart) reuses it.
        seq             INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 9999),
        zone            INTEGER NOT NULL,
        grp             INTEGER NOT NULL,
        camera          TEXT,
        -- How deep in the escalation chain this row is (0 = the alarm's own route).
        escalation      INTEGER NOT NULL DEFAULT 0,
        status          TEXT    NOT NULL CHECK (status IN ('pending','delivered')),
        created_at      INTEGER NOT NULL,
        first_sent_at   INTEGER,
        delivered_at    INTEGER,
        delivered_path  TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        escalated_at    INTEGER,
        UNIQUE (alarm_id, route)
      );
      CREATE INDEX outbox_pending ON outbox(account, id) WHERE status = 'pending';
      CREATE INDEX outbox_account_seq ON outbox(account, seq);
      CREATE INDEX outbox_alarm ON outbox(alarm_id);

      -- Last sequence number handed out per account.
      CREATE TABLE outbox_accounts (
        account  TEXT    PRIMARY KEY,
        last_seq INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'telemetry spool: line-protocol batches kept while the time-series database is unreachable',
    sql: `
      -- One row per (batch, class); replayed in (seq, id) order; telemetry rows may be dropped
      -- (oldest first) to stay within influx.spool.maxBytes, alarm and access rows never.
      CREATE TABLE spool (
        id        INTEGER PRIMARY KEY,
        seq       INTEGER NOT NULL,
        class     TEXT    NOT NULL CHECK (class IN ('telemetry','access','alarm')),
        queued_at INTEGER NOT NULL,
        points    INTEGER NOT NULL,
        bytes     INTEGER NOT NULL,
        body      TEXT    NOT NULL
      );
      CREATE INDEX spool_order ON spool(seq, id);
      CREATE INDEX spool_telemetry ON spool(seq, id) WHERE class = 'telemetry';
    `,
  },
];

/** Current schema version (0 for a new file). */
export function schemaVersion(db: SqliteDatabase): number {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get();
  if (!exists) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Bring the database up to the newest migration. Refuses a file written by a newer gateway
 * (downgrading the schema silently would lose data). Returns the versions applied.
 */
export function migrate(db: SqliteDatabase, file: string, list: readonly Migration[] = migrations, now: () => number = Date.now): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = schemaVersion(db);
  const newest = list.reduce((max, m) => Math.max(max, m.version), 0);
  if (current > newest) {
    throw new ShouwangError(
      ErrorCodes.STORE,
      `${file}: database schema version ${current} is newer than this gateway understands (${newest}); run the newer gateway or restore a backup`,
      { details: { file, schemaVersion: current, supported: newest } },
    );
  }
  const applied: number[] = [];
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
    })();
    applied.push(m.version);
  }
  return applied;
}
