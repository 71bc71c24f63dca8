/**
 * Reports over the store (issue #5 part 6): 人房一致, 三高, and the shareable export, as JSON and
 * CSV. `AccessReports` holds the prepared statements of one database connection; open a separate
 * read-only connection with `openReportDatabase` so that a long report never holds the writer's
 * connection (WAL lets readers and the writer work side by side).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { STORE_FILE_NAME } from '../../store/store.js';
import { storeError, type SqliteDatabase } from '../../store/sqlite.js';
import { OccupancyReportQuery, type OccupancyOptions, type OccupancyReport } from './occupancy.js';
import { ShareableExportQuery, type ShareableExport, type ShareableOptions } from './shareable.js';
import { ThreeHighsQuery, type ThreeHighsOptions, type ThreeHighsReport } from './three-highs.js';

export * from './csv.js';
export * from './occupancy.js';
export * from './report-csv.js';
export * from './shareable.js';
export * from './three-highs.js';
export { offsetSegments } from './local-time-sql.js';

/** A read-only connection to the gateway's store (`<storage.dir>/shouwang.db`). */
export function openReportDatabase(storageDir: string): SqliteDatabase {
  const file = join(storageDir, STORE_FILE_NAME);
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (err) {
    throw storeError(file, 'open the store read-only for reports', err);
  }
}

export class AccessReports {
  private occupancyQuery: OccupancyReportQuery | undefined;
  private threeHighsQuery: ThreeHighsQuery | undefined;
  private shareableQuery: ShareableExportQuery | undefined;

  constructor(private readonly db: SqliteDatabase) {}

  occupancy(opts: OccupancyOptions): OccupancyReport {
    this.occupancyQuery ??= new OccupancyReportQuery(this.db);
    return this.occupancyQuery.run(opts);
  }

  threeHighs(opts: ThreeHighsOptions): ThreeHighsReport {
    this.threeHighsQuery ??= new ThreeHighsQuery(this.db);
    return this.threeHighsQuery.run(opts);
  }

  shareable(opts: ShareableOptions): ShareableExport {
    this.shareableQuery ??= new ShareableExportQuery(this.db);
    return this.shareableQuery.run(opts);
  }
}
export { ANOMALY_INDEX, ANOMALY_INDEX_SQL } from './scan.js';
