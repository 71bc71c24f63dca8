/**
 * The scheduling core shared by the Modbus bus scheduler and the raw-serial poller: one
 * transaction at a time on one bus, chosen in this order
 *
 *   1. a pending command (write) — commands take the next slot;
 *   2. the rest of the current alarm sweep (each device's alarm tasks once);
 *   3. a new alarm sweep, when due: with `intervals.alarm: 0` sweeps run back to back, with
 *      exactly `readsBetweenAlarmSweeps` other reads between two sweeps (fewer if none is due),
 *      so a pole press is seen within one sweep plus that many reads; with an interval > 0 a
 *      sweep starts as soon as it is due;
 *   4. the queued read that fell due earliest.
 *
 * Reads enter a bounded queue when they fall due; a task already queued or in flight is not
 * queued again, and overflow is counted and dropped (the next period tries again), so memory
 * never grows with a slow bus. Devices whose breaker is open are skipped except for one probe
 * per backoff window. The engine knows nothing of Modbus or frames: `execute` does the I/O.
 */
import type { PollingConfig } from '../config/schema.js';
import type { PointValue } from '../core/types.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TransportState } from '../transport/types.js';
import type { Clock, TimerHandle } from './clock.js';
import { DeviceHealth } from './device-health.js';
import { classifyError } from './outcome.js';
import type { BlockPollClass, BusPollStats, PollingCallbacks, ValuesBatch } from './types.js';

/** One periodic read: a Modbus block or a raw-serial request. */
export interface PollTask {
  /** Unique on the bus. */
  readonly id: string;
  readonly device: string;
  readonly pollClass: BlockPollClass;
  readonly intervalMs: number;
  /** Points this read carries (reported `bad` when the device refuses the read). */
  readonly pointIds: readonly string[];
}

export interface TaskResult {
  values: Record<string, PointValue>;
  bad: Record<string, string>;
  /** Transaction time as measured by the transport, ms; when omitted the engine measures it with its clock. */
  elapsedMs?: number;
}

export interface PollEngineOptions<T extends PollTask> extends PollingCallbacks {
  bus: string;
  polling: PollingConfig;
  /** Every device on the bus (also those with no periodic task, e.g. push-only). */
  devices: readonly string[];
  tasks: readonly T[];
  execute: (task: T) => Promise<TaskResult>;
  transportState: () => TransportState;
  clock: Clock;
  log: Logger;
}

interface ScheduledTask<T> {
  task: T;
  nextDue: number;
}

interface ReadyEntry<T> {
  task: T;
  due: number;
  seq: number;
}

interface CommandJob {
  device: string;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Job<T> = { kind: 'read'; task: T; alarm: boolean } | { kind: 'command'; cmd: CommandJob };

/** Tie-break among reads due at the same time: faster classes first. */
const CLASS_RANK: Record<BlockPollClass, number> = { alarm: 0, fast: 1, custom: 2, normal: 3, slow: 4 };

/** While the transport is down, re-check this often even if no state event arrives. */
const TRANSPORT_RECHECK_MS = 1000;

export class PollEngine<T extends PollTask> {
  private readonly health = new Map<string, DeviceHealth>();
  private readonly alarmTasks: T[];
  private readonly scheduled: ScheduledTask<T>[];
  private readonly alarmIntervalMs: number;
  private sweep: T[] = [];
  private sweepStartedAt = 0;
  private nextSweepAt = 0;
  private otherSinceSweep = 0;
  private ready: ReadyEntry<T>[] = [];
  private readonly queued = new Set<string>();
  private inFlight: string | undefined;
  private commands: CommandJob[] = [];
  private seq = 0;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private timer: TimerHandle | undefined;
  private readonly lastBad = new Map<string, string>();
  private readonly counters = {
    transactions: 0,
    reads: 0,
    writes: 0,
    failures: 0,
    exceptions: 0,
    queueHighWater: 0,
    dropped: 0,
    coalesced: 0,
    skipped: 0,
    sweeps: 0,
    pushes: 0,
  };
  private lastSweepMs: number | undefined;

  constructor(private readonly options: PollEngineOptions<T>) {
    for (const device of options.devices) {
      this.health.set(device, new DeviceHealth(device, options.polling.breaker, (s) => this.safely('onStatus', () => options.onStatus(s))));
    }
    for (const task of options.tasks) {
      if (!this.health.has(task.device)) throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `poll task ${task.id} names unknown device "${task.device}"`);
    }
    this.alarmIntervalMs = options.polling.intervals.alarm;
    this.alarmTasks = options.tasks.filter((t) => t.pollClass === 'alarm');
    this.scheduled = options.tasks.filter((t) => t.pollClass !== 'alarm').map((task) => ({ task, nextDue: 0 }));
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.options.clock.now();
    // Everything is due at start: the first values of every point arrive as soon as the bus allows.
    for (const s of this.scheduled) s.nextDue = now;
    this.nextSweepAt = now;
    // As if the other reads were done already: the very first transaction is an alarm sweep.
    this.otherSinceSweep = this.options.polling.readsBetweenAlarmSweeps;
    this.loopDone = this.loop();
  }

  /** Stop after the transaction in flight; pending commands are rejected. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.loopDone;
      return;
    }
    this.running = false;
    this.wake();
    await this.loopDone;
    this.rejectCommands(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.options.bus}: poller stopped`));
  }

  /**
   * Run a command transaction (a write) in the next free slot, ahead of reads. Rejects at once
   * when the device is unknown, its breaker is open, the transport is down or the queue is full.
   */
  submit<R>(device: string, run: () => Promise<R>): Promise<R> {
    const bus = this.options.bus;
    const health = this.health.get(device);
    if (!health) return Promise.reject(new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `bus ${bus}: unknown device "${device}"`));
    if (!this.running) return Promise.reject(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${bus}: poller not running`));
    if (this.options.transportState() !== 'open')
      return Promise.reject(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${bus}: transport is ${this.options.transportState()}`));
    if (!health.allows(this.options.clock.now()))
      return Promise.reject(new ShouwangError(ErrorCodes.BREAKER_OPEN, `device ${device} is not answering (breaker open)`, { details: { device } }));
    if (this.queueDepth() >= this.options.polling.queueLimit) {
      this.counters.dropped++;
      return Promise.reject(new ShouwangError(ErrorCodes.QUEUE_FULL, `bus ${bus}: queue full (${this.options.polling.queueLimit})`));
    }
    return new Promise<R>((resolve, reject) => {
      this.commands.push({ device, run, resolve: resolve as (v: unknown) => void, reject });
      this.noteDepth();
      this.wake();
    });
  }

  /** Feed the transport's state events here. */
  transportStateChanged(state: TransportState, reason?: string): void {
    const now = this.options.clock.now();
    if (state === 'closed') {
      this.options.log.warn({ bus: this.options.bus, reason }, 'transport closed');
      for (const h of this.health.values()) h.transportClosed(now, 'transport closed');
      this.rejectCommands(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.options.bus}: transport closed${reason ? `: ${reason}` : ''}`));
    } else if (state === 'open') {
      for (const h of this.health.values()) h.transportReopened();
    }
    this.wake();
  }

  /** An unsolicited frame from a device: it is alive, and its values are fresh. */
  recordPush(device: string, values: Record<string, PointValue>, bad: Record<string, string>): void {
    const health = this.health.get(device);
    if (!health) return;
    const now = this.options.clock.now();
    this.counters.pushes++;
    health.recordSuccess(now);
    this.emitValues(device, values, bad, now, 'push');
  }

  hasDevice(device: string): boolean {
    return this.health.has(device);
  }

  stats(): BusPollStats {
    const devices: BusPollStats['devices'] = {};
    for (const [id, h] of this.health) devices[id] = h.stats();
    const s: BusPollStats = {
      bus: this.options.bus,
      ...this.counters,
      queueDepth: this.queueDepth(),
      queueLimit: this.options.polling.queueLimit,
      devices,
    };
    if (this.lastSweepMs !== undefined) s.lastSweepMs = this.lastSweepMs;
    return s;
  }

  private queueDepth(): number {
    return this.ready.length + this.commands.length;
  }

  private noteDepth(): void {
    this.counters.queueHighWater = Math.max(this.counters.queueHighWater, this.queueDepth());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        if (this.options.transportState() !== 'open') {
          await this.sleep(TRANSPORT_RECHECK_MS);
          continue;
        }
        const now = this.options.clock.now();
        const job = this.pick(now);
        if (job) {
          await this.run(job);
          continue;
        }
        const wakeAt = this.nextWakeAt(now);
        // Never a zero sleep: a pick that found nothing must not spin.
        await this.sleep(wakeAt === undefined ? undefined : Math.max(1, wakeAt - now));
      } catch (err) {
        this.options.log.error({ err, bus: this.options.bus }, 'poll loop error');
        await this.sleep(TRANSPORT_RECHECK_MS);
      }
    }
  }

  private pick(now: number): Job<T> | undefined {
    this.admit(now);
    const cmd = this.commands.shift();
    if (cmd) return { kind: 'command', cmd };

    const inSweep = this.popSweep(now);
    if (inSweep) return { kind: 'read', task: inSweep, alarm: true };

    this.purgeReady(now);
    const sweepDue = this.alarmIntervalMs === 0 || now >= this.nextSweepAt;
    const othersDone = this.alarmIntervalMs > 0 || this.otherSinceSweep >= this.options.polling.readsBetweenAlarmSweeps || this.ready.length === 0;
    if (this.alarmTasks.length > 0 && sweepDue && othersDone) {
      this.sweep = [...this.alarmTasks];
      this.sweepStartedAt = now;
      this.nextSweepAt = now + this.alarmIntervalMs;
      this.otherSinceSweep = 0;
      const first = this.popSweep(now);
      if (first) {
        this.counters.sweeps++;
        return { kind: 'read', task: first, alarm: true };
      }
    }

    const entry = this.ready.shift();
    if (!entry) return undefined;
    this.queued.delete(entry.task.id);
    this.otherSinceSweep++;
    return { kind: 'read', task: entry.task, alarm: false };
  }

  /** Queue every periodic task that has fallen due. */
  private admit(now: number): void {
    for (const s of this.scheduled) {
      if (s.nextDue > now) continue;
      const due = s.nextDue;
      const interval = Math.max(1, s.task.intervalMs);
      // Keep the cadence, but after a stall do not burst to catch up on missed periods: they are
      // served by this one read (counted as coalesced).
      if (due + interval > now) s.nextDue = due + interval;
      else {
        this.counters.coalesced += Math.floor((now - due) / interval);
        s.nextDue = now + interval;
      }
      const id = s.task.id;
      if (!this.deviceAllows(s.task.device, now)) this.counters.skipped++;
      else if (this.queued.has(id) || this.inFlight === id) this.counters.coalesced++;
      else if (this.queueDepth() >= this.options.polling.queueLimit) this.counters.dropped++;
      else {
        this.insertReady({ task: s.task, due, seq: this.seq++ });
        this.queued.add(id);
        this.noteDepth();
      }
    }
  }

  private insertReady(entry: ReadyEntry<T>): void {
    const before = (a: ReadyEntry<T>, b: ReadyEntry<T>) =>
      a.due !== b.due ? a.due < b.due : CLASS_RANK[a.task.pollClass] !== CLASS_RANK[b.task.pollClass] ? CLASS_RANK[a.task.pollClass] < CLASS_RANK[b.task.pollClass] : a.seq < b.seq;
    let lo = 0;
    let hi = this.ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(this.ready[mid]!, entry)) lo = mid + 1;
      else hi = mid;
    }
    this.ready.splice(lo, 0, entry);
  }

  /** Drop queued reads of devices whose breaker has opened since they were queued. */
  private purgeReady(now: number): void {
    if (this.ready.every((e) => this.deviceAllows(e.task.device, now))) return;
    this.ready = this.ready.filter((e) => {
      if (this.deviceAllows(e.task.device, now)) return true;
      this.queued.delete(e.task.id);
      this.counters.skipped++;
      return false;
    });
  }

  private popSweep(now: number): T | undefined {
    while (this.sweep.length > 0) {
      const t = this.sweep.shift()!;
      if (this.deviceAllows(t.device, now)) return t;
      this.counters.skipped++;
    }
    return undefined;
  }

  private deviceAllows(device: string, now: number): boolean {
    return this.health.get(device)?.allows(now) ?? false;
  }

  private nextWakeAt(now: number): number | undefined {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.scheduled) at = Math.min(at, s.nextDue);
    if (this.alarmTasks.length > 0 && this.alarmIntervalMs > 0) at = Math.min(at, this.nextSweepAt);
    for (const h of this.health.values()) {
      const probe = h.breaker.nextProbeAt;
      if (probe !== undefined && probe > now) at = Math.min(at, probe);
    }
    return Number.isFinite(at) ? at : undefined;
  }

  private async run(job: Job<T>): Promise<void> {
    const { clock } = this.options;
    this.counters.transactions++;
    if (job.kind === 'command') {
      const { cmd } = job;
      const health = this.health.get(cmd.device)!;
      if (!health.allows(clock.now())) {
        this.counters.transactions--;
        cmd.reject(new ShouwangError(ErrorCodes.BREAKER_OPEN, `device ${cmd.device} is not answering (breaker open)`, { details: { device: cmd.device } }));
        return;
      }
      this.counters.writes++;
      const t0 = clock.now();
      try {
        const result = await cmd.run();
        const end = clock.now();
        health.recordSuccess(end, end - t0);
        cmd.resolve(result);
      } catch (err) {
        this.recordError(health, err, clock.now() - t0, undefined);
        cmd.reject(err);
      }
      return;
    }

    const { task } = job;
    const health = this.health.get(task.device)!;
    this.counters.reads++;
    this.inFlight = task.id;
    const t0 = clock.now();
    try {
      const result = await this.options.execute(task);
      const end = clock.now();
      health.recordSuccess(end, result.elapsedMs ?? end - t0);
      this.emitValues(task.device, result.values, result.bad, end, task.pollClass);
    } catch (err) {
      this.recordError(health, err, clock.now() - t0, task);
    } finally {
      this.inFlight = undefined;
      if (job.alarm && this.sweep.length === 0) this.lastSweepMs = clock.now() - this.sweepStartedAt;
    }
  }

  private recordError(health: DeviceHealth, err: unknown, elapsedMs: number, task: T | undefined): void {
    const now = this.options.clock.now();
    const c = classifyError(err);
    this.counters.failures++;
    this.options.log.debug({ bus: this.options.bus, device: health.device, task: task?.id, reason: c.reason }, 'transaction failed');
    if (c.kind === 'local') {
      this.options.log.warn({ bus: this.options.bus, device: health.device, task: task?.id, reason: c.reason }, 'request refused locally');
      return;
    }
    if (c.kind === 'exception') {
      this.counters.exceptions++;
      health.recordException(now, elapsedMs);
      // The device refused this read: its points are unknown now, not stale.
      if (task && task.pointIds.length > 0) {
        const bad: Record<string, string> = {};
        for (const id of task.pointIds) bad[id] = c.reason;
        this.emitValues(task.device, {}, bad, now, task.pollClass);
      }
    } else health.recordFailure(now, c.reason);
  }

  private emitValues(device: string, values: Record<string, PointValue>, bad: Record<string, string>, ts: number, pollClass: ValuesBatch['pollClass']): void {
    let hasBad = false;
    for (const point in bad) {
      const reason = bad[point]!;
      const key = `${device}/${point}`;
      if (this.lastBad.get(key) !== reason) this.options.log.warn({ bus: this.options.bus, device, point, reason }, 'point not decodable');
      this.lastBad.set(key, reason);
      hasBad = true;
    }
    let hasValues = false;
    // Nothing to forget while no point is bad (the usual case): no key strings built per point per read.
    if (this.lastBad.size > 0) {
      for (const point in values) {
        this.lastBad.delete(`${device}/${point}`);
        hasValues = true;
      }
    } else {
      for (const _point in values) {
        hasValues = true;
        break;
      }
    }
    if (!hasValues && !hasBad) return;
    const batch: ValuesBatch = { device, values, ts, pollClass };
    if (hasBad) batch.bad = bad;
    this.safely('onValues', () => this.options.onValues(batch));
  }

  /** A listener that throws must not stop the bus. */
  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.options.log.error({ err, bus: this.options.bus }, `${what} listener failed`);
    }
  }

  private rejectCommands(err: ShouwangError): void {
    const pending = this.commands;
    this.commands = [];
    for (const cmd of pending) cmd.reject(err);
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.timer !== undefined) {
          this.options.clock.clearTimeout(this.timer);
          this.timer = undefined;
        }
        this.wakeUp = undefined;
        resolve();
      };
      this.wakeUp = done;
      if (ms !== undefined) this.timer = this.options.clock.setTimeout(done, ms);
    });
  }

  private wake(): void {
    this.wakeUp?.();
  }
}
