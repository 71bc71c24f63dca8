/**
 * The alarm outbox table (migration 3): one row per (alarm, route) saying what must reach
 * which receiver, with the per-account DC-09 sequence number fixed at queue time. The
 * dispatcher reads the oldest pending row per account and marks it delivered only on the
 * receiver's ACK. Rows are never deleted: they are the delivery record.
 *
 * Methods are plain synchronous SQLite calls; callers that need several writes to land
 * together wrap them in Store.transaction (nested transactions join the outer one).
 */
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite.js';

export interface OutboxEntryInput {
  route: string;
  account: string;
  zone: number;
  group: number;
  camera?: string;
  /** 0 for the alarm's own routes, n for the n-th escalation step. */
  escalation?: number;
}

export type OutboxStatus = 'pending' | 'delivered';

export interface OutboxRow {
  id: number;
  alarmId: string;
  route: string;
  account: string;
  seq: number;
  zone: number;
  group: number;
  camera?: string;
  escalation: number;
  status: OutboxStatus;
  createdAt: number;
  firstSentAt?: number;
  deliveredAt?: number;
  deliveredPath?: string;
  attempts: number;
  lastError?: string;
  escalatedAt?: number;
}

export interface OutboxStats {
  pending: number;
  delivered: number;
  /** created_at of the oldest pending row, if any. */
  oldestPendingAt?: number;
}

interface Row {
  id: number;
  alarm_id: string;
  route: string;
  account: string;
  seq: number;
  zone: number;
  grp: number;
  camera: string | null;
  escalation: number;
  status: OutboxStatus;
  created_at: number;
  first_sent_at: number | null;
  delivered_at: number | null;
  delivered_path: string | null;
  attempts: number;
  last_error: string | null;
  escalated_at: number | null;
}

function toRow(r: Row): OutboxRow {
  const row: OutboxRow = {
    id: r.id,
    alarmId: r.alarm_id,
    route: r.route,
    account: r.account,
    seq: r.seq,
    zone: r.zone,
    group: r.grp,
    escalation: r.escalation,
    status: r.status,
    createdAt: r.created_at,
    attempts: r.attempts,
  };
  if (r.camera !== null) row.camera = r.camera;
  if (r.first_sent_at !== null) row.firstSentAt = r.first_sent_at;
  if (r.delivered_at !== null) row.deliveredAt = r.delivered_at;
  if (r.delivered_path !== null) row.deliveredPath = r.delivered_path;
  if (r.last_error !== null) row.lastError = r.last_error;
  if (r.escalated_at !== null) row.escalatedAt = r.escalated_at;
  return row;
}

/** DC-09 sequence numbers run 0001..9999 and wrap to 0001 (0000 is reserved for NAKs). */
export const MAX_SEQ = 9999;

export class OutboxTable {
  private readonly stmt: Record<
    | 'nextSeq'
    | 'insert'
    | 'byId'
    | 'pending'
    | 'pendingAccounts'
    | 'head'
    | 'sent'
    | 'delivered'
    | 'bySeq'
    | 'forAlarm'
    | 'awaitingAck'
    | 'escalated'
    | 'counts'
    | 'oldest',
    Statement
  >;

  /** `run` turns SQLite failures into STORE errors naming the file and the action (Store's habit). */
  constructor(
    db: SqliteDatabase,
    private readonly run: <T>(action: string, fn: () => T) => T,
  ) {
    this.stmt = {
      nextSeq: db.prepare(`INSERT INTO outbox_accounts (account, last_seq) VALUES (?, 1)
        ON CONFLICT(account) DO UPDATE SET last_seq = CASE WHEN last_seq >= ${MAX_SEQ} THEN 1 ELSE last_seq + 1 END
        RETURNING last_seq`),
      insert: db.prepare(`INSERT INTO outbox (alarm_id, route, account, seq, zone, grp, camera, escalation, status, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`),
      byId: db.prepare('SELECT * FROM outbox WHERE id = ?'),
      pending: db.prepare(`SELECT * FROM outbox WHERE status = 'pending' ORDER BY id`),
      pendingAccounts: db.prepare(`SELECT DISTINCT account FROM outbox WHERE status = 'pending'`),
      head: db.prepare(`SELECT * FROM outbox WHERE status = 'pending' AND account = ? ORDER BY id LIMIT 1`),
      sent: db.prepare(
        `UPDATE outbox SET attempts = attempts + 1, first_sent_at = COALESCE(first_sent_at, ?), last_error = ? WHERE id = ?`,
      ),
      delivered: db.prepare(
        `UPDATE outbox SET status = 'delivered', delivered_at = ?, delivered_path = ?, last_error = NULL WHERE id = ? AND status = 'pending'`,
      ),
      bySeq: db.prepare('SELECT * FROM outbox WHERE account = ? AND seq = ? ORDER BY id DESC LIMIT 1'),
      forAlarm: db.prepare('SELECT * FROM outbox WHERE alarm_id = ? ORDER BY id'),
      // Delivered rows whose alarm an operator has not acknowledged yet, not yet escalated.
      awaitingAck: db.prepare(`SELECT o.* FROM outbox o JOIN alarms a ON a.id = o.alarm_id
        WHERE o.status = 'delivered' AND o.escalated_at IS NULL AND a.kind = 'alarm'
          AND a.state IN ('queued','sent','delivered') AND o.delivered_at <= ? ORDER BY o.id`),
      escalated: db.prepare('UPDATE outbox SET escalated_at = ? WHERE id = ?'),
      counts: db.prepare('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status'),
      oldest: db.prepare(`SELECT MIN(created_at) AS t FROM outbox WHERE status = 'pending'`),
    };
  }

  /** Queue `entries` for an alarm, each with the next sequence number of its account. Call inside a transaction. */
  enqueue(alarmId: string, entries: readonly OutboxEntryInput[], now: number): OutboxRow[] {
    return this.run(`queue alarm ${alarmId}`, () => entries.map((e) => {
      const { last_seq: seq } = this.stmt.nextSeq.get(e.account) as { last_seq: number };
      const info = this.stmt.insert.run(alarmId, e.route, e.account, seq, e.zone, e.group, e.camera ?? null, e.escalation ?? 0, now);
      return this.get(Number(info.lastInsertRowid))!;
    }));
  }

  get(id: number): OutboxRow | undefined {
    const r = this.run(`read outbox row ${id}`, () => this.stmt.byId.get(id) as Row | undefined);
    return r ? toRow(r) : undefined;
  }

  /** Every pending row, oldest first. */
  pending(): OutboxRow[] {
    return this.run('read the pending outbox', () => (this.stmt.pending.all() as Row[]).map(toRow));
  }

  pendingAccounts(): string[] {
    return this.run('read the pending outbox accounts', () => (this.stmt.pendingAccounts.all() as Array<{ account: string }>).map((r) => r.account));
  }

  /** The oldest pending row of an account: the only one the dispatcher may send (order per account). */
  head(account: string): OutboxRow | undefined {
    const r = this.run(`read the outbox head of account ${account}`, () => this.stmt.head.get(account) as Row | undefined);
    return r ? toRow(r) : undefined;
  }

  /** An attempt went out (and, when `error` is set, failed). */
  recordAttempt(id: number, at: number, error?: string): void {
    this.run(`record an attempt of outbox row ${id}`, () => this.stmt.sent.run(at, error ?? null, id));
  }

  /** Delivered on `path` (the receiver ACKed). False when it was already delivered. */
  markDelivered(id: number, at: number, path: string): boolean {
    return this.run(`mark outbox row ${id} delivered`, () => this.stmt.delivered.run(at, path, id).changes === 1);
  }

  /** The latest row that went out under this account + sequence (sequence numbers wrap). */
  findBySeq(account: string, seq: number): OutboxRow | undefined {
    const r = this.run(`find account ${account} seq ${seq}`, () => this.stmt.bySeq.get(account, seq) as Row | undefined);
    return r ? toRow(r) : undefined;
  }

  forAlarm(alarmId: string): OutboxRow[] {
    return this.run(`read the outbox of alarm ${alarmId}`, () => (this.stmt.forAlarm.all(alarmId) as Row[]).map(toRow));
  }

  /** Rows delivered at or before `deliveredBefore` whose alarm no operator has acknowledged. */
  awaitingAck(deliveredBefore: number): OutboxRow[] {
    return this.run('read alarms awaiting acknowledgement', () => (this.stmt.awaitingAck.all(deliveredBefore) as Row[]).map(toRow));
  }

  markEscalated(id: number, at: number): void {
    this.run(`mark outbox row ${id} escalated`, () => this.stmt.escalated.run(at, id));
  }

  stats(): OutboxStats {
    return this.run('count the outbox', () => {
      const stats: OutboxStats = { pending: 0, delivered: 0 };
      for (const r of this.stmt.counts.all() as Array<{ status: OutboxStatus; n: number }>) stats[r.status] = r.n;
      const oldest = (this.stmt.oldest.get() as { t: number | null }).t;
      if (oldest !== null) stats.oldestPendingAt = oldest;
      return stats;
    });
  }
}
