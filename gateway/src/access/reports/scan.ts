/**
 * How a report reads the access log for a period. A short period is read through the time index
 * (access_log_ts, migration 5); a period that covers most of what is kept is read as one
 * sequential table scan, which beats millions of index-then-row lookups several times over.
 * Chosen here rather than left to the planner: without ANALYZE statistics (a gateway never runs
 * it) SQLite may pick another index (door_ts, method_ts) and walk the whole table through it,
 * the slowest plan measured (test/bench/reports.bench.ts).
 *
 * The anomaly queries (strangers, misused credentials) use ANOMALY_INDEX when the store has it:
 * a partial covering index over the ~2 % of passes that are anomalies. It is not in migration 5;
 * with it, the anomaly part of both reports drops from about a second to about 0.1 s on the
 * bench's 3.6 million passes (docs/reports.md).
 */
import type { SqliteDatabase } from '../../store/sqlite.js';

/** Above this share of the stored span, scan the table. */
const SCAN_SHARE = 0.25;

export const ANOMALY_INDEX = 'access_log_anomalies';
/** Recommended for the next store migration (the WHERE must stay exactly this for SQLite to use it). */
export const ANOMALY_INDEX_SQL = `CREATE INDEX ${ANOMALY_INDEX} ON access_log(ts, resolution, building, door, card_hash, credential) WHERE resolution NOT IN ('registered','no_credential')`;
/** The condition the anomaly queries use: the same text as the partial index's WHERE. */
export const ANOMALY_WHERE = `resolution NOT IN ('registered','no_credential')`;

/** The table reference for `FROM`: `access_log INDEXED BY access_log_ts` or `access_log NOT INDEXED`. */
export function accessLogSource(db: SqliteDatabase, from: number, to: number): string {
  const span = db.prepare('SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM access_log').get() as { lo: number | null; hi: number | null };
  if (span.lo === null || span.hi === null || span.hi <= span.lo) return 'access_log NOT INDEXED';
  const covered = Math.min(to, span.hi) - Math.max(from, span.lo);
  return covered / (span.hi - span.lo) > SCAN_SHARE ? 'access_log NOT INDEXED' : 'access_log INDEXED BY access_log_ts';
}

/** The table reference for a query over anomalous passes (WHERE must include ANOMALY_WHERE). */
export function anomalySource(db: SqliteDatabase, from: number, to: number): string {
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = 'access_log'`).get(ANOMALY_INDEX);
  return has ? `access_log INDEXED BY ${ANOMALY_INDEX}` : accessLogSource(db, from, to);
}
