/**
 * Opening the SQLite file: pragmas that make a committed insert durable, and one place that
 * turns SQLite failures into ShouwangError STORE messages naming the file, with a hint a
 * technician can act on (a corrupt file, another gateway holding the lock, a full disk).
 */
import { mkdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';

export type SqliteDatabase = Database.Database;

interface SqliteErrorLike {
  code?: unknown;
  message?: unknown;
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as SqliteErrorLike | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function hintFor(code: string | undefined): string {
  if (code === undefined) return '';
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT'))
    return ' — the file is damaged or not a Shouwang database; stop the gateway, move the file (and its -wal/-shm files) aside and restore a backup or start empty';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return ' — the database is locked by another process (is a second gateway using the same storage.dir?)';
  if (code.startsWith('SQLITE_FULL')) return ' — the disk is full';
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM'))
    return ' — check that the directory exists and is writable by the gateway user';
  if (code.startsWith('SQLITE_IOERR')) return ' — disk I/O error; check the disk';
  return '';
}

/** Wrap any error thrown by SQLite as ShouwangError STORE naming the file and what was being done. */
export function storeError(file: string, action: string, err: unknown): ShouwangError {
  if (err instanceof ShouwangError) return err;
  const code = sqliteCode(err);
  const suffix = code ? ` (${code})` : '';
  return new ShouwangError(ErrorCodes.STORE, `${file}: cannot ${action}: ${errorMessage(err)}${suffix}${hintFor(code)}`, {
    cause: err,
    details: { file, action, ...(code ? { sqliteCode: code } : {}) },
  });
}

export interface OpenSqliteOptions {
  /** How long to wait for a lock held by another connection before failing (ms). */
  busyTimeoutMs?: number;
}

/**
 * Open (creating if needed) a database file with WAL + synchronous=FULL: every commit is
 * fsync'd to the WAL before the call returns, so a row that was inserted survives a power cut.
 * `:memory:` opens a private in-memory database (unit tests; not durable).
 */
export function openSqlite(file: string, dir: string | undefined, options: OpenSqliteOptions = {}): SqliteDatabase {
  if (dir !== undefined) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new ShouwangError(ErrorCodes.STORE, `${dir}: cannot create the storage directory: ${errorMessage(err)}`, {
        cause: err,
        details: { file: dir },
      });
    }
  }
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    // Reading the header first turns "not a database" into an error here rather than mid-run.
    db.pragma('schema_version', { simple: true });
    if (file !== ':memory:') {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode stayed "${String(mode)}", expected "wal"`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A store that cannot take the write lock is useless to an alarm gateway: find out at boot
    // (another process holding the database, a read-only mount), not at the first alarm.
    if (file !== ':memory:') db.exec('BEGIN IMMEDIATE; COMMIT');
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // Closing a half-open handle can fail too; the original error is the one to report.
    }
    throw storeError(file, 'open the database', err);
  }
}
