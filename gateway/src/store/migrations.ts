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
  {
    version: 5,
    name: 'rental housing: buildings, rooms, tenants (encrypted), credentials with state history, access log',
    // access/registry-table.ts and access/access-log-table.ts own these tables; docs/access.md describes them.
    sql: `
      CREATE TABLE buildings (
        id         TEXT    PRIMARY KEY,
        site       TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        address    TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE rooms (
        id            TEXT    PRIMARY KEY,
        building      TEXT    NOT NULL REFERENCES buildings(id),
        number        TEXT    NOT NULL,
        floor         TEXT,
        linkage_group TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        UNIQUE (building, number)
      );
      CREATE INDEX rooms_linkage ON rooms(linkage_group) WHERE linkage_group IS NOT NULL;

      -- The lock(s) on a room's door(s): a door device belongs to at most one room.
      CREATE TABLE room_doors (
        room TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        door TEXT NOT NULL UNIQUE,
        PRIMARY KEY (room, door)
      );

      -- Pseudonymous tenants. Personal fields are AES-256-GCM ciphertexts (access/pii-crypto.ts);
      -- id_number_hash is a keyed hash for lookups by ID number. There is deliberately no column
      -- for biometrics, templates, photos or PINs: those stay in the lock.
      CREATE TABLE tenants (
        id             TEXT    PRIMARY KEY,
        name_enc       TEXT,
        id_number_enc  TEXT,
        id_number_hash TEXT    UNIQUE,
        phone_enc      TEXT,
        note           TEXT,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        -- Personal data erased on request; the pseudonymous id stays for the access log.
        erased_at      INTEGER
      );

      -- A lock user slot on a door, or a card (salted hash only), bound to tenant + room for a lease.
      CREATE TABLE credentials (
        id         TEXT    PRIMARY KEY,
        tenant     TEXT    NOT NULL REFERENCES tenants(id),
        room       TEXT    NOT NULL REFERENCES rooms(id),
        kind       TEXT    NOT NULL CHECK (kind IN ('lock_slot','card')),
        door       TEXT,
        slot       INTEGER,
        card_hash  TEXT,
        duress     INTEGER NOT NULL DEFAULT 0 CHECK (duress IN (0,1)),
        valid_from INTEGER NOT NULL,
        valid_to   INTEGER NOT NULL,
        state      TEXT    NOT NULL CHECK (state IN ('active','lost','returned','cancelled')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK (valid_to > valid_from),
        CHECK ((kind = 'lock_slot' AND door IS NOT NULL AND slot IS NOT NULL AND card_hash IS NULL)
            OR (kind = 'card' AND card_hash IS NOT NULL AND door IS NULL AND slot IS NULL))
      );
      CREATE INDEX credentials_slot ON credentials(door, slot) WHERE kind = 'lock_slot';
      CREATE INDEX credentials_card ON credentials(card_hash) WHERE kind = 'card';
      CREATE INDEX credentials_tenant ON credentials(tenant);
      CREATE INDEX credentials_room ON credentials(room);

      -- Every state change of a credential (created, lost, returned, cancelled, re-activated). Append-only.
      CREATE TABLE credential_history (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        credential TEXT    NOT NULL REFERENCES credentials(id),
        from_state TEXT    CHECK (from_state IS NULL OR from_state IN ('active','lost','returned','cancelled')),
        to_state   TEXT    NOT NULL CHECK (to_state IN ('active','lost','returned','cancelled')),
        at         INTEGER NOT NULL,
        by         TEXT    NOT NULL,
        note       TEXT
      );
      CREATE INDEX credential_history_credential ON credential_history(credential, seq);
      CREATE TRIGGER credential_history_append_only BEFORE UPDATE ON credential_history
        BEGIN SELECT RAISE(ABORT, 'credential_history is append-only'); END;

      -- Every pass at a door, resolved against the registry. Append-only; DELETE only by retention.
      CREATE TABLE access_log (
        seq        INTEGER PRIMARY KEY,
        id         TEXT    NOT NULL UNIQUE,
        site       TEXT    NOT NULL,
        door       TEXT    NOT NULL,
        ts         INTEGER NOT NULL,
        method     TEXT    NOT NULL,
        slot       INTEGER,
        card_hash  TEXT,
        result     TEXT    NOT NULL CHECK (result IN ('granted','denied')),
        resolution TEXT    NOT NULL CHECK (resolution IN ('registered','expired','lost','returned','cancelled','unregistered','no_credential')),
        credential TEXT,
        tenant     TEXT,
        room       TEXT,
        building   TEXT,
        duress     INTEGER NOT NULL DEFAULT 0 CHECK (duress IN (0,1))
      );
      CREATE INDEX access_log_ts ON access_log(ts);
      CREATE INDEX access_log_room_ts ON access_log(room, ts) WHERE room IS NOT NULL;
      CREATE INDEX access_log_tenant_ts ON access_log(tenant, ts) WHERE tenant IS NOT NULL;
      CREATE INDEX access_log_building_ts ON access_log(building, ts) WHERE building IS NOT NULL;
      CREATE INDEX access_log_method_ts ON access_log(method, ts);
      CREATE INDEX access_log_door_ts ON access_log(door, ts);
      CREATE TRIGGER access_log_append_only BEFORE UPDATE ON access_log
        BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;

      -- Facts about the registry itself (e.g. the id of the key its personal fields are encrypted with).
      CREATE TABLE access_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'reports: partial covering index over anomalous passes (strangers, misused credentials)',
    // Must stay textually equal to access/reports/scan.ts ANOMALY_INDEX_SQL (a test checks it):
    // the reports' WHERE matches the index's WHERE, so SQLite reads only the ~2 % anomalies.
    sql: `CREATE INDEX access_log_anomalies ON access_log(ts, resolution, building, door, card_hash, credential) WHERE resolution NOT IN ('registered','no_credential')`,
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
