/**
 * The access log: every pass at a door, resolved against the registry, stored, then announced.
 *
 *   bus `event` (DeviceEvent kind access) -> pass-fields (what the device said; card hashed at once)
 *     -> registry.resolve (whose credential, which room) -> store.accessLog (one transaction per burst)
 *     -> bus `access` (AccessRecord) for the access rules, reports, MQTT/InfluxDB sinks
 *
 * Bursts: events are queued and written together on the next turn of the event loop (or as
 * soon as `maxBatch` are waiting), so a burst costs one fsync instead of one per pass; a lone
 * pass waits no timer, only for the current turn to end. While a batch is written (synchronously)
 * new events queue up behind it, so the batch size grows with the load by itself.
 *
 * If the store fails, the records are still emitted (the rules must not go blind because the
 * disk is full) and the failure is logged loudly.
 *
 * Retention: rows older than `retentionDays` are deleted when start() runs and then every
 * `purgeIntervalMs` (default hourly); purge() can be called with any clock for tests.
 */
import type { EventBus } from '../core/event-bus.js';
import type { DeviceEvent } from '../core/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessLogPage, AccessLogQuery, AccessLogTable } from './access-log-table.js';
import { DEFAULT_RETENTION_DAYS } from './config.js';
import { passFacts } from './pass-fields.js';
import type { Registry } from './registry.js';
import type { AccessRecord } from './types.js';

export const DAY_MS = 86_400_000;

export interface AccessLogOptions {
  /** store.accessLog */
  table: AccessLogTable;
  registry: Registry;
  log: Logger;
  retentionDays?: number;
  purgeIntervalMs?: number;
  /** Most passes written in one transaction (default 1000). */
  maxBatch?: number;
  clock?: () => number;
}

export interface AccessLogStats {
  /** Passes stored (or, after a store failure, at least emitted). */
  ingested: number;
  batches: number;
  largestBatch: number;
  /** Events that could not be turned into a record (logged). */
  rejected: number;
  storeFailures: number;
  lastPurge?: { at: number; cutoff: number; deleted: number };
}

export class AccessLog {
  private readonly table: AccessLogTable;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly maxBatch: number;
  private readonly purgeIntervalMs: number;
  readonly retentionDays: number;
  private bus: EventBus | undefined;
  private unsubscribe: (() => void) | undefined;
  private queue: DeviceEvent[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly counters: AccessLogStats = { ingested: 0, batches: 0, largestBatch: 0, rejected: 0, storeFailures: 0 };

  constructor(opts: AccessLogOptions) {
    this.table = opts.table;
    this.registry = opts.registry;
    this.log = opts.log;
    this.clock = opts.clock ?? Date.now;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS;
    this.purgeIntervalMs = opts.purgeIntervalMs ?? 3_600_000;
  }

  /** Listen for access events on `bus` and announce records on it. Returns a detach function. */
  attach(bus: EventBus): () => void {
    this.unsubscribe?.();
    this.bus = bus;
    const off = bus.on('event', (e) => {
      if (e.kind === 'access') this.enqueue(e);
    });
    this.unsubscribe = () => {
      off();
      this.unsubscribe = undefined;
    };
    return this.unsubscribe;
  }

  /** Queue one pass; it is written with the rest of its burst. */
  enqueue(e: DeviceEvent): void {
    this.queue.push(e);
    if (this.queue.length >= this.maxBatch) {
      this.flush();
      return;
    }
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.flush();
    });
  }

  /** Write everything queued now. Returns the records written. */
  flush(): AccessRecord[] {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const out: AccessRecord[] = [];
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      out.push(...this.ingest(batch));
    }
    return out;
  }

  /** Map, resolve, store (one transaction) and emit a batch of access events, now. */
  ingest(events: readonly DeviceEvent[]): AccessRecord[] {
    const records: AccessRecord[] = [];
    for (const e of events) {
      try {
        records.push(this.toRecord(e));
      } catch (err) {
        this.counters.rejected++;
        this.log.warn({ event: e.id, device: e.device, err: errorMessage(err) }, 'access event could not be logged');
      }
    }
    if (records.length === 0) return records;
    const started = performance.now();
    try {
      this.table.insertMany(records);
    } catch (err) {
      this.counters.storeFailures++;
      this.log.error({ n: records.length, err: errorMessage(err) }, 'access records could not be stored; announcing them anyway');
    }
    this.counters.ingested += records.length;
    this.counters.batches++;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, records.length);
    if (records.length > 1) this.log.debug({ n: records.length, ms: Math.round(performance.now() - started) }, 'access burst stored');
    for (const r of records) this.bus?.emit('access', r);
    return records;
  }

  /** DeviceEvent -> resolved AccessRecord. */
  toRecord(e: DeviceEvent): AccessRecord {
    const f = passFacts(e);
    const cardHash = f.cardHash ?? (f.cardNumber === undefined ? undefined : this.registry.hashCard(f.cardNumber));
    const r = this.registry.resolve({ door: f.door, method: f.method, ts: f.ts, ...(f.slot === undefined ? {} : { slot: f.slot }), ...(cardHash === undefined ? {} : { cardHash }) });
    const record: AccessRecord = {
      id: f.id,
      site: f.site,
      door: f.door,
      ts: f.ts,
      method: f.method,
      result: f.result,
      resolution: r.resolution,
      duress: f.duress || r.duress,
    };
    if (f.slot !== undefined) record.slot = f.slot;
    if (cardHash !== undefined) record.cardHash = cardHash;
    if (r.credential !== undefined) record.credential = r.credential;
    if (r.tenant !== undefined) record.tenant = r.tenant;
    if (r.room !== undefined) record.room = r.room;
    if (r.building !== undefined) record.building = r.building;
    return record;
  }

  search(q: AccessLogQuery = {}): AccessLogPage {
    return this.table.search(q);
  }

  /** Delete passes older than the retention period as of `now`. */
  purge(now: number = this.clock()): { cutoff: number; accessLog: number; rawEvents: number } {
    const cutoff = now - this.retentionDays * DAY_MS;
    const deleted = this.table.deleteBefore(cutoff);
    this.counters.lastPurge = { at: now, cutoff, deleted: deleted.accessLog };
    if (deleted.accessLog + deleted.rawEvents > 0) {
      this.log.info({ cutoff: new Date(cutoff).toISOString(), ...deleted, retentionDays: this.retentionDays }, 'access log retention: old passes deleted');
    }
    return { cutoff, ...deleted };
  }

  /** Run retention now and then every purgeIntervalMs. */
  start(): void {
    if (this.purgeTimer) return;
    this.safePurge();
    this.purgeTimer = setInterval(() => this.safePurge(), this.purgeIntervalMs);
    this.purgeTimer.unref();
  }

  /** Stop listening and the schedule; write what is still queued. */
  stop(): void {
    this.unsubscribe?.();
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
    this.flush();
  }

  stats(): AccessLogStats {
    return { ...this.counters, ...(this.counters.lastPurge ? { lastPurge: { ...this.counters.lastPurge } } : {}) };
  }

  private safePurge(): void {
    try {
      this.purge();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'access log retention failed; will retry at the next interval');
    }
  }
}
