/**
 * The outbox dispatcher: takes queued alarms out of the durable outbox and puts them on the
 * forwarders, in order per receiver account, until a receiver ACKs each one.
 *
 * - Order: one loop per account sends only the oldest pending row (head of line); the next row
 *   waits until the head is delivered. Sequence numbers were fixed at queue time, so a retry
 *   (and a retry after a restart) carries the same seq and the receiver can drop duplicates.
 * - Paths: a route's primary paths are tried together and the first receiver ACK wins. When the
 *   primaries have not delivered within `backupAfterMs` of queueing (or all of them are down),
 *   the backup paths (e.g. SMS) join in.
 * - Retry: failed attempts back off exponentially (retry.initialMs doubling to retry.maxMs); a
 *   path coming back up wakes the waiting loops at once.
 * - Lifecycle: the first attempt moves the alarm to `sent`, the first receiver ACK to `delivered`.
 *   An operator acknowledgement (back over a path or the HTTP callback) moves it to `acknowledged`.
 * - Escalation: a delivered alarm no operator acknowledges within `escalation.afterS` is queued
 *   on the next route of the chain as well.
 */
import { scopedAbort } from '../core/scoped-abort.js';
import type { Alarm, AlarmState } from '../core/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxRow } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { AlarmService } from './alarm-service.js';
import type { Forwarder, OutboundMessage, PathHealth } from './forwarders/types.js';
import { stateRank } from './lifecycle.js';
import type { OperatorAckMessage } from './operator-ack.js';
import { entryFor, type RetryConfig, type RouteConfig, type RoutedDevice } from './routes.js';

export interface DispatcherOptions {
  store: Store;
  alarms: AlarmService;
  forwarders: ReadonlyMap<string, Forwarder>;
  routes: readonly RouteConfig[];
  retry: RetryConfig;
  /** Zone and camera of a device, for escalation rows. */
  deviceInfo: (device: string) => RoutedDevice;
  log: Logger;
  now?: () => number;
  /** How often delivered-but-unacknowledged alarms are checked for escalation. */
  escalationCheckMs?: number;
  /** An operator acknowledged an alarm (after it is persisted): the app lights the pole. */
  onAcknowledged?: (alarm: Alarm, ack: OperatorAckMessage) => void;
}

export interface DispatcherStats {
  pending: number;
  delivered: number;
  /** Age of the oldest undelivered alarm, ms. */
  oldestPendingMs: number;
  accountsActive: number;
  escalations: number;
}

type AttemptResult = { ok: true; path: string; at: number } | { ok: false; reason: string };

export class OutboxDispatcher {
  private readonly now: () => number;
  private readonly routes: Map<string, RouteConfig>;
  private readonly loops = new Map<string, Promise<void>>();
  /** Sleeping loops, woken early by stop() or a path coming back. */
  private readonly sleepers = new Map<string, () => void>();
  /** Failed attempts per outbox row since this process started (backoff state). */
  private readonly failures = new Map<number, number>();
  private readonly stopSignal = new AbortController();
  private escalationTimer: NodeJS.Timeout | undefined;
  private escalations = 0;
  private started = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.now = opts.now ?? Date.now;
    this.routes = new Map(opts.routes.map((r) => [r.id, r]));
  }

  /** Resume everything the outbox still holds (after a restart) and start escalation checks. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const account of this.opts.store.outbox.pendingAccounts()) this.wake(account);
    const every = this.opts.escalationCheckMs ?? 1000;
    if ([...this.routes.values()].some((r) => r.escalation)) {
      this.escalationTimer = setInterval(() => this.checkEscalations(), every);
      this.escalationTimer.unref();
    }
  }

  /** New rows were committed (AlarmService outbox hook). */
  queued(rows: readonly OutboxRow[]): void {
    for (const account of new Set(rows.map((r) => r.account))) this.wake(account);
  }

  /** A path's supervision changed; a path coming up ends every backoff wait. */
  pathHealthChanged(health: PathHealth): void {
    if (!health.up) return;
    for (const wakeUp of [...this.sleepers.values()]) wakeUp();
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    if (this.escalationTimer) clearInterval(this.escalationTimer);
    for (const wakeUp of [...this.sleepers.values()]) wakeUp();
    await Promise.allSettled([...this.loops.values()]);
  }

  stats(): DispatcherStats {
    const s = this.opts.store.outbox.stats();
    return {
      pending: s.pending,
      delivered: s.delivered,
      oldestPendingMs: s.oldestPendingAt === undefined ? 0 : Math.max(0, this.now() - s.oldestPendingAt),
      accountsActive: this.loops.size,
      escalations: this.escalations,
    };
  }

  /**
   * An operator acknowledged an alarm at the receiver (HTTP callback or MQTT uplink). Finds the
   * alarm by id, or by the account + sequence it was delivered under; moves it to `acknowledged`
   * unless it is already there or past it. Returns the alarm, or undefined when it is unknown.
   */
  operatorAck(ack: OperatorAckMessage, via: string): Alarm | undefined {
    const alarmId = ack.alarmId ?? this.opts.store.outbox.findBySeq(ack.account!.toUpperCase(), ack.seq!)?.alarmId;
    const alarm = alarmId === undefined ? undefined : this.opts.alarms.get(alarmId);
    if (!alarm) {
      this.opts.log.warn({ ack, via }, 'operator acknowledgement for an unknown alarm ignored');
      return undefined;
    }
    if (stateRank(alarm.state) >= stateRank('acknowledged')) return alarm;
    const note = `${ack.action} via ${via}${ack.note ? `: ${ack.note}` : ''}`;
    const next = this.opts.alarms.transition(alarm.id, 'acknowledged', { by: `operator:${ack.by}`, note });
    try {
      this.opts.onAcknowledged?.(next, ack);
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err), alarm: alarm.id }, 'acknowledgement follow-up failed');
    }
    return next;
  }

  private wake(account: string): void {
    // Before start() rows only accumulate (start() picks them all up); after stop() nothing moves.
    if (!this.started || this.stopSignal.signal.aborted) return;
    if (this.loops.has(account)) return;
    const loop = this.runAccount(account)
      .catch((err: unknown) => this.opts.log.error({ err: errorMessage(err), account }, 'outbox loop failed; it restarts on the next alarm'))
      .finally(() => {
        this.loops.delete(account);
        // Rows may have been queued between the last head() and the delete above.
        if (!this.stopSignal.signal.aborted && this.opts.store.outbox.head(account)) this.wake(account);
      });
    this.loops.set(account, loop);
  }

  private async runAccount(account: string): Promise<void> {
    const { store, log, retry } = this.opts;
    while (!this.stopSignal.signal.aborted) {
      const row = store.outbox.head(account);
      if (!row) return;
      const route = this.routes.get(row.route);
      const alarm = this.opts.alarms.get(row.alarmId);
      if (!route || !alarm) {
        // Config changed under a queued alarm: keep it (never drop an alarm) and say so loudly.
        log.error({ outbox: row.id, route: row.route, alarm: row.alarmId }, `queued alarm waits: route "${row.route}" is no longer configured`);
        await this.sleep(account, retry.maxMs);
        continue;
      }
      const failed = this.failures.get(row.id) ?? 0;
      const result = await this.attempt(route, row, this.message(row, alarm, failed + 1));
      if (this.stopSignal.signal.aborted && !result.ok) return;
      // `sent` is recorded with the outcome of the first attempt: together with `delivered` when
      // the receiver ACKs at once (one fsync instead of two per alarm in a burst), alone otherwise.
      const sent = { to: 'sent' as const, actor: { by: 'outbox', note: `first attempt on ${route.paths.join(', ')}` } };
      if (result.ok) {
        this.failures.delete(row.id);
        const current = this.opts.alarms.get(alarm.id);
        const steps: Array<{ to: AlarmState; actor: { by: string; note?: string } }> = [];
        if (current?.state === 'queued') steps.push(sent);
        if (current && stateRank(current.state) < stateRank('delivered'))
          steps.push({ to: 'delivered', actor: { by: 'outbox', note: `ACK on ${result.path} (route ${route.id}, #${row.account} seq ${row.seq})` } });
        const mark = () => {
          store.outbox.recordAttempt(row.id, result.at);
          store.outbox.markDelivered(row.id, result.at, result.path);
        };
        this.advance(alarm.id, steps, mark);
        log.info({ alarm: alarm.id, route: route.id, path: result.path, seq: row.seq, ms: result.at - row.createdAt }, 'alarm delivered');
        continue;
      }
      if (this.opts.alarms.get(alarm.id)?.state === 'queued') this.advance(alarm.id, [sent]);
      this.failures.set(row.id, failed + 1);
      store.outbox.recordAttempt(row.id, this.now(), result.reason);
      let delay = Math.min(retry.initialMs * 2 ** failed, retry.maxMs);
      // Do not sleep past the moment the backup paths are due.
      const backupDue = row.createdAt + route.backupAfterMs - this.now();
      if (route.backup.length > 0 && backupDue > 0) delay = Math.min(delay, backupDue);
      log.warn({ alarm: alarm.id, route: route.id, seq: row.seq, attempt: failed + 1, retryInMs: delay, reason: result.reason }, 'alarm not delivered yet');
      await this.sleep(account, delay);
    }
  }

  private message(row: OutboxRow, alarm: Alarm, attempt: number): OutboundMessage {
    const msg: OutboundMessage = {
      outboxId: row.id,
      route: row.route,
      account: row.account,
      seq: row.seq,
      alarm,
      zone: row.zone,
      group: row.group,
      attempt,
      queuedAt: row.createdAt,
    };
    if (row.camera !== undefined) msg.cameraUrl = row.camera;
    return msg;
  }

  /**
   * One attempt: the primaries (and, when due, the backups) in parallel; the first delivery wins
   * and aborts the rest. Backups become due during the attempt if a primary hangs past the deadline.
   */
  private attempt(route: RouteConfig, row: OutboxRow, msg: OutboundMessage): Promise<AttemptResult> {
    const { forwarders, retry, log } = this.opts;
    const pick = (ids: readonly string[]) => ids.map((id) => forwarders.get(id)).filter((f): f is Forwarder => f !== undefined);
    const primaries = pick(route.paths);
    const backups = pick(route.backup);
    const now = this.now();
    const backupAt = row.createdAt + route.backupAfterMs;
    const primariesDown = primaries.length === 0 || primaries.every((f) => !f.health().up);
    const backupNow = backups.length > 0 && (now >= backupAt || primariesDown);

    return new Promise<AttemptResult>((resolve) => {
      const scope = scopedAbort(retry.attemptTimeoutMs, [this.stopSignal.signal]);
      const signal = scope.signal;
      const reasons: string[] = [];
      let outstanding = 0;
      let done = false;
      let backupTimer: NodeJS.Timeout | undefined;
      const finish = (result: AttemptResult) => {
        if (done) return;
        done = true;
        if (backupTimer) clearTimeout(backupTimer);
        scope.abort();
        scope.dispose();
        resolve(result);
      };
      const launch = (f: Forwarder) => {
        outstanding++;
        f.send(msg, signal)
          .then(
            (res) => {
              if (res.outcome === 'delivered') finish({ ok: true, path: f.path, at: res.at });
              else reasons.push(`${f.path}: ${res.outcome}: ${res.reason}`);
            },
            (err: unknown) => {
              // Forwarders should not throw; if one does, it is a retry, never a lost alarm.
              log.error({ err: errorMessage(err), path: f.path }, 'forwarder threw instead of answering');
              reasons.push(`${f.path}: ${errorMessage(err)}`);
            },
          )
          .finally(() => {
            outstanding--;
            if (outstanding === 0) finish({ ok: false, reason: reasons.join('; ') || 'no path answered' });
          });
      };
      const launchBackups = () => {
        backupTimer = undefined;
        if (done) return;
        log.warn({ alarm: msg.alarm.id, route: route.id, backup: route.backup }, 'primary paths have not delivered: using the backup paths');
        for (const f of backups) launch(f);
      };
      for (const f of primaries) launch(f);
      if (backupNow) launchBackups();
      else if (backups.length > 0) backupTimer = setTimeout(launchBackups, backupAt - now);
      if (outstanding === 0 && !backupTimer) finish({ ok: false, reason: `route ${route.id} has no usable path` });
    });
  }

  /** Lifecycle moves (plus `also`, e.g. the outbox marks) in one transaction. */
  private advance(alarmId: string, steps: ReadonlyArray<{ to: AlarmState; actor: { by: string; note?: string } }>, also?: () => void): void {
    try {
      this.opts.alarms.advance(alarmId, steps, also);
    } catch (err) {
      // A person may have moved it meanwhile (acknowledged, reset): the outbox never moves it
      // back, but the delivery itself must still be recorded.
      this.opts.log.debug({ alarm: alarmId, err: errorMessage(err) }, 'lifecycle move skipped');
      if (also) this.opts.store.transaction(also);
    }
  }

  private sleep(account: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.sleepers.set(account, () => {
        this.sleepers.delete(account);
        done();
      });
    }).finally(() => this.sleepers.delete(account));
  }

  /** Delivered but not acknowledged in time: queue it on the next route of the chain. */
  private checkEscalations(): void {
    const { store, log } = this.opts;
    try {
      const now = this.now();
      for (const row of store.outbox.awaitingAck(now)) {
        const route = this.routes.get(row.route);
        if (!route?.escalation || row.deliveredAt === undefined) continue;
        if (row.deliveredAt + route.escalation.afterS * 1000 > now) continue;
        const next = this.routes.get(route.escalation.to);
        if (!next) continue;
        const alarm = this.opts.alarms.get(row.alarmId);
        if (!alarm) continue;
        const already = store.outbox.forAlarm(row.alarmId).some((r) => r.route === next.id);
        const rows = store.transaction(() => {
          store.outbox.markEscalated(row.id, now);
          return already ? [] : store.outbox.enqueue(row.alarmId, [entryFor(next, this.opts.deviceInfo(alarm.device), row.escalation + 1)], now);
        });
        this.escalations++;
        log.warn({ alarm: row.alarmId, from: route.id, to: next.id, afterS: route.escalation.afterS }, 'alarm not acknowledged in time: escalated');
        this.queued(rows);
      }
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'escalation check failed');
    }
  }
}
