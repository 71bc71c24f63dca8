/**
 * The telemetry spool (migration 4): line-protocol batches kept in the SQLite store while the
 * time-series database is unreachable, replayed oldest first when it is back.
 *
 * Rows are chunks of one batch and one class (a batch with telemetry and alarms becomes two
 * rows), ordered by (seq, id): `seq` is the writer's batch number, so a batch that was in flight
 * when the server went away (an older seq) is replayed before the batches spooled after it.
 *
 * The bound is explicit: `append` keeps the sum of row bytes at or below `maxBytes` by deleting
 * the OLDEST telemetry rows first. Alarm and access rows are never deleted to make room; when
 * they alone fill the spool they are still written (the bound is exceeded and reported as
 * `overBoundBytes`), because losing an alarm record is worse than using more disk. Every drop is
 * returned to the caller, who counts it.
 *
 * Counters (rows, points, bytes per class) are read once at open and then kept in memory,
 * updated only after a transaction commits: stats() is called often and must not scan the table.
 */
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite.js';

/** What the overflow policy may drop (`telemetry`) and what it must keep (`alarm`, `access`). */
export type SpoolClass = 'telemetry' | 'access' | 'alarm';
export const SPOOL_CLASSES: readonly SpoolClass[] = ['telemetry', 'access', 'alarm'];

/** Bytes charged per row on top of its body: the row's own columns and index entries. */
export const SPOOL_ROW_OVERHEAD_BYTES = 64;

export interface SpoolChunkInput {
  seq: number;
  class: SpoolClass;
  /** When the oldest line of the chunk was handed to the writer (ms): for the lag. */
  queuedAt: number;
  /** Line-protocol lines, none containing a newline. */
  lines: readonly string[];
}

export interface SpoolRow {
  id: number;
  seq: number;
  class: SpoolClass;
  queuedAt: number;
  points: number;
  bytes: number;
  lines: string[];
}

export interface SpoolClassCount {
  rows: number;
  points: number;
  bytes: number;
}

export interface SpoolStats extends SpoolClassCount {
  byClass: Record<SpoolClass, SpoolClassCount>;
  /** queuedAt of the oldest row (the replay head), if any. */
  oldestQueuedAt?: number;
  /** Bytes above the bound that protected rows (alarms, access events) forced in. 0 normally. */
  overBoundBytes: number;
  maxBytes: number;
}

export interface SpoolAppendResult {
  /** Rows written. */
  rows: number;
  points: number;
  /** Telemetry dropped to stay within the bound: older rows and, if nothing older was left, the new chunk itself. */
  dropped: { rows: number; points: number; bytes: number; oldestQueuedAt?: number };
}

interface Row {
  id: number;
  seq: number;
  class: SpoolClass;
  queued_at: number;
  points: number;
  bytes: number;
  body: string;
}

const NO_IDS: ReadonlySet<number> = new Set();

function emptyCounts(): Record<SpoolClass, SpoolClassCount> {
  return { telemetry: { rows: 0, points: 0, bytes: 0 }, access: { rows: 0, points: 0, bytes: 0 }, alarm: { rows: 0, points: 0, bytes: 0 } };
}

function chunkBytes(body: string): number {
  return Buffer.byteLength(body, 'utf8') + SPOOL_ROW_OVERHEAD_BYTES;
}

export class SpoolTable {
  private readonly stmt: Record<'insert' | 'head' | 'oldestTelemetry' | 'delete' | 'counts' | 'maxSeq' | 'oldest', Statement>;
  private counts: Record<SpoolClass, SpoolClassCount>;
  private readonly db: SqliteDatabase;

  /** `run` turns SQLite failures into STORE errors naming the file and the action (Store's habit). */
  constructor(
    db: SqliteDatabase,
    private readonly run: <T>(action: string, fn: () => T) => T,
  ) {
    this.db = db;
    this.stmt = {
      insert: db.prepare('INSERT INTO spool (seq, class, queued_at, points, bytes, body) VALUES (?, ?, ?, ?, ?, ?)'),
      head: db.prepare('SELECT * FROM spool ORDER BY seq, id LIMIT ?'),
      oldestTelemetry: db.prepare(`SELECT id, points, bytes, queued_at FROM spool WHERE class = 'telemetry' ORDER BY seq, id LIMIT ?`),
      delete: db.prepare('DELETE FROM spool WHERE id = ? RETURNING class, points, bytes'),
      counts: db.prepare('SELECT class, COUNT(*) AS rows, SUM(points) AS points, SUM(bytes) AS bytes FROM spool GROUP BY class'),
      maxSeq: db.prepare('SELECT MAX(seq) AS s FROM spool'),
      oldest: db.prepare('SELECT queued_at FROM spool ORDER BY seq, id LIMIT 1'),
    };
    this.counts = this.readCounts();
  }

  /**
   * Append chunks in one transaction (one fsync), keeping the total within `maxBytes` by
   * dropping the oldest telemetry first (see the file comment). `inFlight`: ids of rows being
   * replayed at this moment, which are not dropped.
   */
  append(chunks: readonly SpoolChunkInput[], maxBytes: number, inFlight: ReadonlySet<number> = NO_IDS): SpoolAppendResult {
    const result: SpoolAppendResult = { rows: 0, points: 0, dropped: { rows: 0, points: 0, bytes: 0 } };
    const prepared = chunks.filter((c) => c.lines.length > 0).map((c) => ({ chunk: c, body: c.lines.join('\n') }));
    if (prepared.length === 0) return result;
    const next = this.run(`spool ${prepared.length} chunk(s) of line protocol`, () =>
      this.db.transaction(() => {
        const counts = cloneCounts(this.counts);
        const total = () => counts.telemetry.bytes + counts.access.bytes + counts.alarm.bytes;
        const noteDrop = (points: number, bytes: number, queuedAt: number) => {
          result.dropped.rows += 1;
          result.dropped.points += points;
          result.dropped.bytes += bytes;
          result.dropped.oldestQueuedAt = Math.min(result.dropped.oldestQueuedAt ?? queuedAt, queuedAt);
        };
        for (const { chunk, body } of prepared) {
          const bytes = chunkBytes(body);
          // Make room by dropping the oldest telemetry already spooled.
          while (total() + bytes > maxBytes) {
            // Rows being replayed right now are about to be written: not victims (dropping them
            // would count as lost what the server is taking).
            const candidates = this.stmt.oldestTelemetry.all(inFlight.size + 1) as Array<{ id: number; points: number; bytes: number; queued_at: number }>;
            const victim = candidates.find((c) => !inFlight.has(c.id));
            if (!victim) break;
            this.stmt.delete.get(victim.id);
            sub(counts.telemetry, 1, victim.points, victim.bytes);
            noteDrop(victim.points, victim.bytes, victim.queued_at);
          }
          if (total() + bytes > maxBytes && chunk.class === 'telemetry') {
            // Only protected rows are left: this chunk is now the oldest telemetry there is.
            noteDrop(chunk.lines.length, bytes, chunk.queuedAt);
            continue;
          }
          this.stmt.insert.run(chunk.seq, chunk.class, chunk.queuedAt, chunk.lines.length, bytes, body);
          add(counts[chunk.class], 1, chunk.lines.length, bytes);
          result.rows += 1;
          result.points += chunk.lines.length;
        }
        return counts;
      })(),
    );
    // Committed: now the counters may move.
    this.counts = next;
    return result;
  }

  /** The oldest rows, in replay order, up to `maxPoints` points in total (always at least one row). */
  head(maxPoints: number): SpoolRow[] {
    return this.run('read the head of the spool', () => {
      const out: SpoolRow[] = [];
      let points = 0;
      // Rows are read one at a time and the read stops at the first row that no longer fits: a
      // row holds up to a whole batch, so `.all()` with a LIMIT in rows would pull the bodies of
      // up to 1,000 batches (the whole spool of an outage, ~0.8 MB each) into the heap to send one
      // (found by test/bench/influx-spool.bench.ts: replay at ~40k points/s with a heap of 0.8 GB).
      for (const r of this.stmt.head.iterate(Math.max(1, Math.min(1000, maxPoints))) as IterableIterator<Row>) {
        if (out.length > 0 && points + r.points > maxPoints) break;
        out.push({ id: r.id, seq: r.seq, class: r.class, queuedAt: r.queued_at, points: r.points, bytes: r.bytes, lines: r.body.split('\n') });
        points += r.points;
        if (points >= maxPoints) break;
      }
      return out;
    });
  }

  /**
   * Settle rows that were sent: delete them and, in the same transaction, write back what is
   * still unsent (after a write failed half way), so that a crash between the two loses nothing.
   * `rest` is not subject to the bound: it was already counted in.
   */
  settle(ids: readonly number[], rest: readonly SpoolChunkInput[] = []): void {
    if (ids.length === 0 && rest.length === 0) return;
    const next = this.run(`remove ${ids.length} replayed spool row(s)`, () =>
      this.db.transaction(() => {
        const counts = cloneCounts(this.counts);
        for (const id of ids) {
          const r = this.stmt.delete.get(id) as { class: SpoolClass; points: number; bytes: number } | undefined;
          if (r) sub(counts[r.class], 1, r.points, r.bytes);
        }
        for (const chunk of rest) {
          if (chunk.lines.length === 0) continue;
          const body = chunk.lines.join('\n');
          const bytes = chunkBytes(body);
          this.stmt.insert.run(chunk.seq, chunk.class, chunk.queuedAt, chunk.lines.length, bytes, body);
          add(counts[chunk.class], 1, chunk.lines.length, bytes);
        }
        return counts;
      })(),
    );
    this.counts = next;
  }

  /** Highest batch number spooled (0 when empty): the writer continues after it. */
  maxSeq(): number {
    return this.run('read the spool sequence', () => (this.stmt.maxSeq.get() as { s: number | null }).s ?? 0);
  }

  isEmpty(): boolean {
    return this.counts.telemetry.rows + this.counts.access.rows + this.counts.alarm.rows === 0;
  }

  stats(maxBytes: number): SpoolStats {
    const byClass = cloneCounts(this.counts);
    const rows = byClass.telemetry.rows + byClass.access.rows + byClass.alarm.rows;
    const points = byClass.telemetry.points + byClass.access.points + byClass.alarm.points;
    const bytes = byClass.telemetry.bytes + byClass.access.bytes + byClass.alarm.bytes;
    const stats: SpoolStats = { rows, points, bytes, byClass, overBoundBytes: Math.max(0, bytes - maxBytes), maxBytes };
    if (rows > 0) {
      const oldest = this.run('read the oldest spool row', () => this.stmt.oldest.get() as { queued_at: number } | undefined);
      if (oldest) stats.oldestQueuedAt = oldest.queued_at;
    }
    return stats;
  }

  private readCounts(): Record<SpoolClass, SpoolClassCount> {
    return this.run('count the spool', () => {
      const counts = emptyCounts();
      for (const r of this.stmt.counts.all() as Array<{ class: SpoolClass; rows: number; points: number | null; bytes: number | null }>) {
        counts[r.class] = { rows: r.rows, points: r.points ?? 0, bytes: r.bytes ?? 0 };
      }
      return counts;
    });
  }
}

function cloneCounts(c: Record<SpoolClass, SpoolClassCount>): Record<SpoolClass, SpoolClassCount> {
  return { telemetry: { ...c.telemetry }, access: { ...c.access }, alarm: { ...c.alarm } };
}

function add(c: SpoolClassCount, rows: number, points: number, bytes: number): void {
  c.rows += rows;
  c.points += points;
  c.bytes += bytes;
}

function sub(c: SpoolClassCount, rows: number, points: number, bytes: number): void {
  c.rows -= rows;
  c.points -= points;
  c.bytes -= bytes;
}
