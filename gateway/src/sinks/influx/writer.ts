/**
 * The InfluxDB writer: batches lines (size or interval), sends them one request at a time, and
 * keeps everything it could not send in the disk spool (store/spool.ts) until the server takes it.
 *
 * Where a closed batch goes:
 *   - to the in-memory queue when the server is answering and the spool is empty;
 *   - otherwise (server down, credentials refused, spool not yet drained, queue full) to the
 *     spool, together with anything still queued in memory, so that order is kept: the spool is
 *     always older than the memory queue.
 * The sender takes the spool head first (oldest batch first), then the memory queue. One request
 * is in flight at a time: order is simple to reason about and one InfluxDB takes >100k points/s
 * from a single connection anyway.
 *
 * Failures (delivery.ts decides per answer):
 *   - bad data: only the refused lines are dropped, counted, logged with the line;
 *   - 5xx / network / timeout: the unsent rest is spooled and retried with exponential backoff
 *     (retry.initialMs doubling to retry.maxMs, +0-20 % jitter so that a village of gateways does
 *     not hammer a recovering server in step);
 *   - 401/403/404: same, plus an error that names the setting to fix (influx.v2.token...).
 *
 * stop(): closes the open batch, lets the request in flight finish (aborted after timeoutMs),
 * sends what is queued in memory while the server answers, and spools the rest.
 */
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SpoolChunkInput, SpoolClass, SpoolStats, SpoolTable } from '../../store/spool.js';
import { SPOOL_CLASSES } from '../../store/spool.js';
import { LineBatcher, type Batch, type BatchTimers } from './batcher.js';
import type { InfluxConfig } from './config.js';
import { deliverLines, type DeliveryResult, type DroppedLine } from './delivery.js';
import { InfluxHttp } from './influx-http.js';
import type { InfluxLine } from './schema.js';

/** Closed batches held in memory before the writer spills to disk (a slow server must not grow the heap). */
const MAX_QUEUED_BATCHES = 4;
/** Bad lines logged per minute with their text; beyond that only counted (one summary line). */
const BAD_LINE_LOGS_PER_MINUTE = 20;
/** How much of a bad line goes into a log record and the stats. */
const LINE_LOG_CHARS = 1000;

export type ConnectionState = 'unknown' | 'up' | 'down' | 'blocked';

export interface ConnectionStatus {
  state: ConnectionState;
  since: number;
  /** Why it is down or blocked, in words an installer can act on. */
  reason?: string;
  /** For `blocked`: the setting to fix. */
  setting?: string;
}

export interface DropCounts {
  /** Lines the server refused as bad data (dropped alone, the rest of their batch was written). */
  badData: number;
  /** Telemetry dropped to keep the spool within influx.spool.maxBytes (oldest first). */
  overflow: number;
  /** Lines that could not be spooled because the store failed (disk full, store closed). */
  storeError: number;
  /** Lines handed to the writer after stop(). */
  afterStop: number;
}

export interface InfluxWriterStats {
  api: 'v1' | 'v2';
  url: string;
  connection: ConnectionStatus;
  /** Points the server confirmed (2xx), including replayed ones. */
  written: number;
  /** Of those, written from the spool. */
  replayed: number;
  /** Points ever put in the spool. */
  spooled: number;
  requests: number;
  /** Failed attempts that will be retried (5xx, network, timeout, auth). */
  retries: number;
  dropped: DropCounts & { total: number; overflowByClass: Record<SpoolClass, number> };
  lastBadLine?: { at: number; line: string; reason: string; status: number };
  lastError?: { at: number; message: string; setting?: string };
  /** Age of the oldest point not yet written (ms); 0 when everything is written. */
  lagMs: number;
  /** Points in memory: the open batch, closed batches waiting, the request in flight. */
  memory: { batching: number; queued: number; inFlight: number };
  spool: SpoolStats;
}

/** What one finished delivery attempt did (tests and debugging watch replay order with it). */
export interface DeliveryReport {
  source: 'memory' | 'spool';
  /** Batch sequence numbers covered, oldest first. */
  seqs: number[];
  ok: boolean;
  written: number;
  dropped: number;
}

export interface InfluxWriterOptions {
  config: InfluxConfig;
  spool: SpoolTable;
  log: Logger;
  now?: () => number;
  timers?: BatchTimers;
  onDelivery?: (report: DeliveryReport) => void;
}

interface Outgoing {
  source: 'memory' | 'spool';
  seqs: number[];
  lines: string[];
  classes: SpoolClass[];
  queuedAt: number;
  /** Spool rows this batch came from (settled after the attempt). */
  spoolIds?: number[];
}

function chunksOf(seq: number, queuedAt: number, lines: readonly string[], classes: readonly SpoolClass[], indices?: readonly number[]): SpoolChunkInput[] {
  const byClass = new Map<SpoolClass, string[]>();
  const take = (i: number) => {
    const cls = classes[i]!;
    let list = byClass.get(cls);
    if (!list) byClass.set(cls, (list = []));
    list.push(lines[i]!);
  };
  if (indices) for (const i of indices) take(i);
  else for (let i = 0; i < lines.length; i++) take(i);
  // Telemetry first within a batch: if the bound bites, protected rows of the same batch are
  // not the ones that pushed it over.
  return SPOOL_CLASSES.filter((c) => byClass.has(c)).map((cls) => ({ seq, class: cls, queuedAt, lines: byClass.get(cls)! }));
}

export class InfluxWriter {
  private readonly config: InfluxConfig;
  private readonly spool: SpoolTable;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly http: InfluxHttp;
  private readonly batcher: LineBatcher;
  private readonly onDelivery: ((report: DeliveryReport) => void) | undefined;
  private readonly queue: Batch[] = [];
  private inFlight: Outgoing | undefined;
  private pumpPromise: Promise<void> | undefined;
  private kickAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private backoffMs: number;
  private readonly abort = new AbortController();
  private started = false;
  private stopping = false;
  private stopped = false;
  private stopPromise: Promise<void> | undefined;
  private connection: ConnectionStatus;
  private counters = { written: 0, replayed: 0, spooled: 0, requests: 0, retries: 0 };
  private readonly drops: DropCounts = { badData: 0, overflow: 0, storeError: 0, afterStop: 0 };
  private readonly overflowByClass: Record<SpoolClass, number> = { telemetry: 0, access: 0, alarm: 0 };
  private lastBadLine: InfluxWriterStats['lastBadLine'];
  private lastError: InfluxWriterStats['lastError'];
  private badLineLog = { windowStart: 0, logged: 0, suppressed: 0 };
  private overflowLog = { lastAt: 0, suppressed: 0 };

  constructor(options: InfluxWriterOptions) {
    this.config = options.config;
    this.spool = options.spool;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.onDelivery = options.onDelivery;
    this.http = new InfluxHttp(options.config);
    this.backoffMs = options.config.retry.initialMs;
    this.connection = { state: 'unknown', since: this.now() };
    this.batcher = new LineBatcher({
      size: options.config.batch.size,
      intervalMs: options.config.batch.intervalMs,
      now: this.now,
      // Continue after what a previous run left in the spool, so replay order holds across restarts.
      firstSeq: this.spool.maxSeq() + 1,
      onBatch: (b) => this.enqueue(b),
      ...(options.timers ? { timers: options.timers } : {}),
    });
  }

  /** Hand lines to the writer (hot path: no I/O unless a batch closes while the server is away). */
  write(lines: readonly InfluxLine[]): void {
    if (this.stopped) {
      this.drops.afterStop += lines.length;
      return;
    }
    for (const l of lines) this.batcher.add(l.line, l.class);
  }

  /** Start sending (and replay what an earlier run left in the spool). */
  start(): void {
    if (this.started) return;
    this.started = true;
    const spool = this.spool.stats(this.config.spool.maxBytes);
    this.log.info(
      { url: this.http.context.url, api: this.config.api, spooledPoints: spool.points, spooledBytes: spool.bytes },
      spool.points > 0 ? 'influx writer started; replaying the spool' : 'influx writer started',
    );
    this.kick();
  }

  /** Close the open batch now (tests, shutdown). */
  flush(): void {
    this.batcher.close();
  }

  /** Resolves when nothing is left to send (memory and spool empty), or rejects after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    this.flush();
    for (;;) {
      if (this.batcher.pending === 0 && this.queue.length === 0 && !this.inFlight && this.spool.isEmpty()) return;
      if (Date.now() > end) throw new Error(`influx writer not drained within ${timeoutMs} ms: ${JSON.stringify(this.stats().memory)}, spool ${this.spool.stats(this.config.spool.maxBytes).points} points`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Flush, let the request in flight finish (cut after timeoutMs), spool what is left. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.batcher.close();
    if (this.started) this.kick();
    if (this.pumpPromise) {
      const cut = setTimeout(() => this.abort.abort(new Error('influx writer stopping')), this.config.timeoutMs);
      try {
        while (this.pumpPromise) await this.pumpPromise;
      } finally {
        clearTimeout(cut);
      }
    }
    this.stopped = true;
    // Lines that arrived while the last request was out.
    this.batcher.close();
    this.spillQueue();
    const spool = this.spool.stats(this.config.spool.maxBytes);
    this.log.info({ written: this.counters.written, spooledPoints: spool.points }, 'influx writer stopped');
  }

  stats(): InfluxWriterStats {
    const now = this.now();
    const spool = this.spool.stats(this.config.spool.maxBytes);
    const oldest = [this.batcher.oldestQueuedAt, this.queue[0]?.queuedAt, this.inFlight?.queuedAt, spool.oldestQueuedAt].filter(
      (t): t is number => t !== undefined,
    );
    const stats: InfluxWriterStats = {
      api: this.config.api,
      url: this.http.context.url,
      connection: { ...this.connection },
      ...this.counters,
      dropped: {
        ...this.drops,
        total: this.drops.badData + this.drops.overflow + this.drops.storeError + this.drops.afterStop,
        overflowByClass: { ...this.overflowByClass },
      },
      lagMs: oldest.length > 0 ? Math.max(0, now - Math.min(...oldest)) : 0,
      memory: {
        batching: this.batcher.pending,
        queued: this.queue.reduce((n, b) => n + b.lines.length, 0),
        inFlight: this.inFlight?.lines.length ?? 0,
      },
      spool,
    };
    if (this.lastBadLine) stats.lastBadLine = { ...this.lastBadLine };
    if (this.lastError) stats.lastError = { ...this.lastError };
    return stats;
  }

  // --- where batches go ---------------------------------------------------------------------

  private enqueue(batch: Batch): void {
    const direct = this.connection.state !== 'down' && this.connection.state !== 'blocked' && this.spool.isEmpty() && !this.stopped;
    if (direct && this.queue.length < MAX_QUEUED_BATCHES) {
      this.queue.push(batch);
      this.kick();
      return;
    }
    // Keep order: whatever waits in memory is older than this batch and goes to disk first.
    this.queue.push(batch);
    this.spillQueue();
    this.kick();
  }

  /** Everything waiting in memory to the spool, in one transaction. */
  private spillQueue(): void {
    if (this.queue.length === 0) return;
    const chunks = this.queue.splice(0).flatMap((b) => chunksOf(b.seq, b.queuedAt, b.lines, b.classes));
    this.toSpool(chunks);
  }

  private toSpool(chunks: SpoolChunkInput[]): void {
    const points = chunks.reduce((n, c) => n + c.lines.length, 0);
    try {
      const r = this.spool.append(chunks, this.config.spool.maxBytes, new Set(this.inFlight?.spoolIds));
      this.counters.spooled += r.points;
      if (r.dropped.points > 0) this.noteOverflow(r.dropped.points, r.dropped.rows, r.dropped.oldestQueuedAt);
    } catch (err) {
      this.drops.storeError += points;
      this.setLastError(`cannot spool ${points} points: ${errorMessage(err)}`);
      this.log.error({ err: errorMessage(err), points }, 'influx: cannot write to the spool; points lost');
    }
  }

  private noteOverflow(points: number, rows: number, oldestQueuedAt: number | undefined): void {
    this.drops.overflow += points;
    this.overflowByClass.telemetry += points;
    const now = this.now();
    // One warning per 30 s while the spool overflows, with what was dropped meanwhile.
    if (now - this.overflowLog.lastAt >= 30_000) {
      this.log.warn(
        {
          droppedPoints: points + this.overflowLog.suppressed,
          rows,
          oldestDroppedAt: oldestQueuedAt,
          totalOverflow: this.drops.overflow,
          maxBytes: this.config.spool.maxBytes,
        },
        'influx spool full (influx.spool.maxBytes): dropped the oldest telemetry; alarms and access events are kept',
      );
      this.overflowLog = { lastAt: now, suppressed: 0 };
    } else {
      this.overflowLog.suppressed += points;
    }
  }

  // --- the sender ---------------------------------------------------------------------------

  private kick(): void {
    if (!this.started || this.stopped) return;
    if (this.pumpPromise) {
      // The running pump may be past its last look at the queue: look again when it ends.
      this.kickAgain = true;
      return;
    }
    this.kickAgain = false;
    this.pumpPromise = this.pump().finally(() => {
      this.pumpPromise = undefined;
      if (this.kickAgain) this.kick();
    });
  }

  private async pump(): Promise<void> {
    for (;;) {
      const wait = this.retryAt - this.now();
      if (wait > 0) {
        if (!this.stopping) this.armRetry(wait);
        return;
      }
      const out = this.next();
      if (!out) return;
      this.inFlight = out;
      let result: DeliveryResult;
      try {
        result = await deliverLines(out.lines, (body) => this.http.post(body, this.abort.signal));
      } catch (err) {
        // deliverLines and post do not throw; if they ever do, treat it as a retry.
        result = { ok: false, written: 0, dropped: [], requests: 0, rest: out.lines.map((_, i) => i), outcome: { kind: 'retry', message: errorMessage(err) } };
      }
      this.inFlight = undefined;
      this.settle(out, result);
    }
  }

  /** The next batch to send: the spool head first (oldest), then memory. None while stopping from the spool. */
  private next(): Outgoing | undefined {
    if (!this.stopping && !this.spool.isEmpty()) {
      let rows;
      try {
        rows = this.spool.head(this.config.batch.size);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'influx: cannot read the spool');
        this.retryAt = this.now() + this.config.retry.maxMs;
        if (!this.stopping) this.armRetry(this.config.retry.maxMs);
        return undefined;
      }
      if (rows.length > 0) {
        const out: Outgoing = { source: 'spool', seqs: [], lines: [], classes: [], queuedAt: Infinity, spoolIds: [] };
        for (const r of rows) {
          out.spoolIds!.push(r.id);
          if (out.seqs[out.seqs.length - 1] !== r.seq) out.seqs.push(r.seq);
          out.queuedAt = Math.min(out.queuedAt, r.queuedAt);
          for (const line of r.lines) {
            out.lines.push(line);
            out.classes.push(r.class);
          }
        }
        return out;
      }
    }
    const b = this.queue.shift();
    return b ? { source: 'memory', seqs: [b.seq], lines: b.lines, classes: b.classes, queuedAt: b.queuedAt } : undefined;
  }

  private settle(out: Outgoing, result: DeliveryResult): void {
    this.counters.requests += result.requests;
    this.counters.written += result.written;
    if (out.source === 'spool') this.counters.replayed += result.written;
    for (const d of result.dropped) this.noteBadLine(d);
    if (result.ok) {
      if (out.spoolIds) this.settleSpool(out.spoolIds, []);
      this.backoffMs = this.config.retry.initialMs;
      this.setConnection({ state: 'up', since: this.now() });
    } else {
      const progressed = result.rest.length < out.lines.length;
      const seq = out.seqs[0]!;
      if (out.spoolIds) {
        // Rows stay where they are unless part of them went out (then the rest replaces them).
        if (progressed) this.settleSpool(out.spoolIds, chunksOf(seq, out.queuedAt, out.lines, out.classes, result.rest));
      } else {
        this.toSpool(chunksOf(seq, out.queuedAt, out.lines, out.classes, result.rest));
        this.spillQueue();
      }
      this.failed(result.outcome);
    }
    this.report(out, result);
  }

  private settleSpool(ids: number[], rest: SpoolChunkInput[]): void {
    try {
      this.spool.settle(ids, rest);
    } catch (err) {
      // The rows stay and are sent again: harmless (same lines overwrite themselves).
      this.log.error({ err: errorMessage(err) }, 'influx: cannot remove replayed rows from the spool');
    }
  }

  private failed(outcome: Extract<DeliveryResult, { ok: false }>['outcome']): void {
    if (outcome.kind === 'cancelled') return;
    this.counters.retries += 1;
    const now = this.now();
    const jitter = 1 + Math.random() * 0.2;
    this.retryAt = now + Math.round(this.backoffMs * jitter);
    this.backoffMs = Math.min(this.backoffMs * 2, this.config.retry.maxMs);
    if (outcome.kind === 'blocked') {
      this.setLastError(outcome.message, outcome.setting);
      this.setConnection({ state: 'blocked', since: now, reason: outcome.message, setting: outcome.setting });
    } else {
      this.setLastError(outcome.message);
      this.setConnection({ state: 'down', since: now, reason: outcome.message });
    }
  }

  private armRetry(ms: number): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
    this.retryTimer.unref();
  }

  private setConnection(next: ConnectionStatus): void {
    const prev = this.connection;
    if (prev.state === next.state && prev.reason === next.reason) return;
    this.connection = prev.state === next.state ? { ...next, since: prev.since } : next;
    const spool = () => this.spool.stats(this.config.spool.maxBytes).points;
    if (next.state === 'up') {
      if (prev.state !== 'unknown') this.log.info({ url: this.http.context.url, spooledPoints: spool() }, 'influx reachable again; replaying the spool');
    } else if (next.state === 'blocked') {
      this.log.error({ url: this.http.context.url, setting: next.setting, spooledPoints: spool() }, `influx write refused: ${next.reason}; spooling until fixed`);
    } else if (prev.state !== next.state) {
      this.log.warn({ url: this.http.context.url, reason: next.reason }, 'influx unreachable; spooling to disk');
    } else {
      this.log.debug({ reason: next.reason }, 'influx still unreachable');
    }
  }

  private setLastError(message: string, setting?: string): void {
    this.lastError = { at: this.now(), message, ...(setting ? { setting } : {}) };
  }

  private noteBadLine(d: DroppedLine): void {
    this.drops.badData += 1;
    const now = this.now();
    const line = d.line.length > LINE_LOG_CHARS ? `${d.line.slice(0, LINE_LOG_CHARS)}…` : d.line;
    this.lastBadLine = { at: now, line, reason: d.reason, status: d.status };
    const w = this.badLineLog;
    if (now - w.windowStart >= 60_000) {
      if (w.suppressed > 0) this.log.warn({ suppressed: w.suppressed }, 'influx: more bad lines were dropped (not logged one by one)');
      this.badLineLog = { windowStart: now, logged: 0, suppressed: 0 };
    }
    if (this.badLineLog.logged < BAD_LINE_LOGS_PER_MINUTE) {
      this.badLineLog.logged += 1;
      this.log.warn({ line, reason: d.reason, status: d.status, totalBadLines: this.drops.badData }, 'influx refused a line as bad data; dropped it, kept the rest of the batch');
    } else {
      this.badLineLog.suppressed += 1;
    }
  }

  private report(out: Outgoing, result: DeliveryResult): void {
    if (!this.onDelivery) return;
    try {
      this.onDelivery({ source: out.source, seqs: out.seqs, ok: result.ok, written: result.written, dropped: result.dropped.length });
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'influx onDelivery hook failed');
    }
  }
}

