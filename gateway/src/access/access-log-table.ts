/**
 * The access_log table of migration 5: one row per pass, already resolved against the
 * registry. Store exposes it as `store.accessLog`; access/access-log.ts feeds it from the bus.
 *
 * - insertMany() writes a burst in ONE transaction: with synchronous=FULL every commit is an
 *   fsync, so one commit per pass would cap ingest at the disk's fsync rate.
 * - search() pages newest first with a keyset cursor (ts, seq), so page 500 costs what page 1
 *   costs; every filter is backed by an index (room, tenant, building, method, door + ts).
 * - deleteBefore() is the retention purge, in chunks so it never holds the write lock for long.
 */
import type { SqliteDatabase } from '../store/sqlite.js';
import { accessMethods, type AccessMethodName, type AccessRecord, type Resolution } from './types.js';

type Run = <T>(action: string, fn: () => T) => T;

export interface AccessLogQuery {
  room?: string;
  tenant?: string;
  building?: string;
  door?: string;
  credential?: string;
  method?: AccessMethodName;
  result?: 'granted' | 'denied';
  resolution?: Resolution;
  /** ts >= from (ms). */
  from?: number;
  /** ts < to (ms). */
  to?: number;
  /** Page size, default 100, at most 1000. */
  limit?: number;
  /** `next` of the previous page. */
  cursor?: string;
}

export interface AccessLogPage {
  records: AccessRecord[];
  /** Cursor of the next (older) page; absent on the last page. */
  next?: string;
}

interface Row {
  seq: number;
  id: string;
  site: string;
  door: string;
  ts: number;
  method: string;
  slot: number | null;
  card_hash: string | null;
  result: 'granted' | 'denied';
  resolution: Resolution;
  credential: string | null;
  tenant: string | null;
  room: string | null;
  building: string | null;
  duress: 0 | 1;
}

const METHODS: ReadonlySet<string> = new Set(accessMethods);
export const MAX_PAGE = 1000;

function toRecord(r: Row): AccessRecord {
  const rec: AccessRecord = {
    id: r.id,
    site: r.site,
    door: r.door,
    ts: r.ts,
    method: METHODS.has(r.method) ? (r.method as AccessMethodName) : 'unknown',
    result: r.result,
    resolution: r.resolution,
    duress: r.duress === 1,
  };
  if (r.slot !== null) rec.slot = r.slot;
  if (r.card_hash !== null) rec.cardHash = r.card_hash;
  if (r.credential !== null) rec.credential = r.credential;
  if (r.tenant !== null) rec.tenant = r.tenant;
  if (r.room !== null) rec.room = r.room;
  if (r.building !== null) rec.building = r.building;
  return rec;
}

export function encodeCursor(ts: number, seq: number): string {
  return Buffer.from(`${ts}.${seq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { ts: number; seq: number } | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { ts: Number(m[1]), seq: Number(m[2]) } : undefined;
}

export class AccessLogTable {
  private readonly s;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly run: Run,
  ) {
    this.s = {
      // OR IGNORE: the record id is the device event id, so a replayed event is not logged twice.
      insert: db.prepare(`INSERT OR IGNORE INTO access_log
        (id, site, door, ts, method, slot, card_hash, result, resolution, credential, tenant, room, building, duress)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      purge: db.prepare('DELETE FROM access_log WHERE seq IN (SELECT seq FROM access_log WHERE ts < ? ORDER BY ts LIMIT ?)'),
      // The raw pass events the device runtime keeps (device_events, kind access) carry the same
      // personal facts (who passed which door when), so they age out with the access log.
      purgeRaw: db.prepare(`DELETE FROM device_events WHERE seq IN (SELECT seq FROM device_events WHERE kind = 'access' AND ts < ? LIMIT ?)`),
      oldest: db.prepare('SELECT MIN(ts) AS ts FROM access_log'),
      count: db.prepare('SELECT COUNT(*) AS n FROM access_log'),
      get: db.prepare('SELECT * FROM access_log WHERE id = ?'),
    };
  }

  /** Insert a burst in one transaction (one fsync). Returns how many were new. */
  insertMany(records: readonly AccessRecord[]): number {
    if (records.length === 0) return 0;
    return this.run(`append ${records.length} access record(s)`, () =>
      this.db.transaction(() => {
        let n = 0;
        for (const r of records) {
          n += this.s.insert.run(
            r.id,
            r.site,
            r.door,
            r.ts,
            r.method,
            r.slot ?? null,
            r.cardHash ?? null,
            r.result,
            r.resolution,
            r.credential ?? null,
            r.tenant ?? null,
            r.room ?? null,
            r.building ?? null,
            r.duress ? 1 : 0,
          ).changes;
        }
        return n;
      })(),
    );
  }

  get(id: string): AccessRecord | undefined {
    const r = this.run(`read access record ${id}`, () => this.s.get.get(id) as Row | undefined);
    return r ? toRecord(r) : undefined;
  }

  /** Newest first, filtered, one page. */
  search(q: AccessLogQuery = {}): AccessLogPage {
    const where: string[] = [];
    const args: Array<string | number> = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) (where.push(`${col} = ?`), args.push(v));
    };
    eq('room', q.room);
    eq('tenant', q.tenant);
    eq('building', q.building);
    eq('door', q.door);
    eq('credential', q.credential);
    eq('method', q.method);
    eq('result', q.result);
    eq('resolution', q.resolution);
    if (q.from !== undefined) (where.push('ts >= ?'), args.push(q.from));
    if (q.to !== undefined) (where.push('ts < ?'), args.push(q.to));
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      if (c) (where.push('(ts < ? OR (ts = ? AND seq < ?))'), args.push(c.ts, c.ts, c.seq));
    }
    const limit = Math.max(1, Math.min(MAX_PAGE, Math.floor(q.limit ?? 100)));
    const sql = `SELECT * FROM access_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, seq DESC LIMIT ?`;
    const rows = this.run('search the access log', () => this.db.prepare(sql).all(...args, limit + 1) as Row[]);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return { records: page.map(toRecord), ...(more && last ? { next: encodeCursor(last.ts, last.seq) } : {}) };
  }

  /**
   * Delete passes with ts < cutoff (access_log and the raw access events), `chunk` rows per
   * statement. Returns the number of access_log rows deleted.
   */
  deleteBefore(cutoff: number, chunk = 5000): { accessLog: number; rawEvents: number } {
    let accessLog = 0;
    let rawEvents = 0;
    for (;;) {
      const n = this.run('delete old access records', () => this.s.purge.run(cutoff, chunk).changes);
      accessLog += n;
      if (n < chunk) break;
    }
    for (;;) {
      const n = this.run('delete old access events', () => this.s.purgeRaw.run(cutoff, chunk).changes);
      rawEvents += n;
      if (n < chunk) break;
    }
    return { accessLog, rawEvents };
  }

  count(): number {
    return this.run('count access records', () => (this.s.count.get() as { n: number }).n);
  }

  /** ts of the oldest record, if any. */
  oldest(): number | undefined {
    return this.run('read the oldest access record', () => (this.s.oldest.get() as { ts: number | null }).ts ?? undefined);
  }
}
