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
import { POLL_CLASS_RANK, type BlockPollClass, type BusPollStats, type PollingCallbacks, type ValuesBatch } from './types.js';

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

/**
 * How a task's transaction ended: an error, or the decoded values, the points that could not be
 * decoded, and the transaction time as measured by the transport (undefined: the engine measures
 * it with its clock). Called exactly once per execute(), never before execute() returns.
 */
export type TaskDone = (
  err: unknown,
  values: Record<string, PointValue> | undefined,
  bad: Readonly<Record<string, string>> | undefined,
  elapsedMs: number | undefined,
  /** The same registers as the previous read of this task (see ValuesBatch.unchanged). */
  unchanged?: boolean,
) => void;

/** execute() for an executor that returns a promise (one closure and a promise per task; fine off the hot path). */
export function settleTask(result: Promise<TaskResult>, done: TaskDone): void {
  result.then(
    (r) => done(undefined, r.values, r.bad, r.elapsedMs),
    (err: unknown) => done(err, undefined, undefined, undefined),
  );
}

export interface PollEngineOptions<T extends PollTask> extends PollingCallbacks {
  bus: string;
  polling: PollingConfig;
  /** Every device on the bus (also those with no periodic task, e.g. push-only). */
  devices: readonly string[];
  tasks: readonly T[];
  /** Run the task's transaction (one at a time: the engine waits for `done` before the next one). */
  execute: (task: T, done: TaskDone) => void;
  transportState: () => TransportState;
  clock: Clock;
  log: Logger;
}

interface ScheduledTask<T> {
  task: T;
  nextDue: number;
  /** In the ready queue now (a task is queued at most once). */
  queued: boolean;
  /** When it fell due, and its arrival order, while queued. */
  due: number;
  seq: number;
  /** POLL_CLASS_RANK of the task's class (tie-break among reads due at the same time). */
  rank: number;
}

interface CommandJob {
  device: string;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const NOTHING_BAD: Readonly<Record<string, string>> = Object.freeze({});


/** While the transport is down, re-check this often even if no state event arrives. */
const TRANSPORT_RECHECK_MS = 1000;

export class PollEngine<T extends PollTask> {
  private readonly health = new Map<string, DeviceHealth>();
  /** The same, as a list: walked on every sleep (an array walk allocates nothing, a Map iterator does). */
  private readonly healthList: DeviceHealth[] = [];
  private readonly alarmTasks: T[];
  private readonly scheduled: ScheduledTask<T>[];
  private readonly alarmIntervalMs: number;
  /** The alarm sweep in progress: alarmTasks[sweepIndex...] are still to be read. */
  private sweepIndex: number;
  private sweepStartedAt = 0;
  private nextSweepAt = 0;
  private otherSinceSweep = 0;
  /** Queued reads, earliest due first (see readyBefore). */
  private ready: ScheduledTask<T>[] = [];
  private inFlight: string | undefined;
  private commands: CommandJob[] = [];
  private seq = 0;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private endLoop: (() => void) | undefined;
  /**
   * The transaction in flight. The engine is a small state machine driven by callbacks, not an
   * async loop: at thousands of transactions per second, the async frames of a loop, a run and
   * a sleep per transaction were a large share of the garbage (and so of GC time and heap size).
   * Exactly one of: a job in flight (busy), waiting (sleeping: timer and/or wake), or stopped.
   */
  private busy = false;
  private currentTask: T | undefined;
  private currentAlarm = false;
  private currentCommand: CommandJob | undefined;
  private currentStartedAt = 0;
  private sleeping = false;
  private wakeQueued = false;
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
      const health = new DeviceHealth(device, options.polling.breaker, (s) => this.safely('onStatus', () => options.onStatus(s)));
      this.health.set(device, health);
      this.healthList.push(health);
    }
    for (const task of options.tasks) {
      if (!this.health.has(task.device)) throw new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `poll task ${task.id} names unknown device "${task.device}"`);
    }
    this.alarmIntervalMs = options.polling.intervals.alarm;
    this.alarmTasks = options.tasks.filter((t) => t.pollClass === 'alarm');
    this.sweepIndex = this.alarmTasks.length;
    this.scheduled = options.tasks
      .filter((t) => t.pollClass !== 'alarm')
      .map((task) => ({ task, nextDue: 0, queued: false, due: 0, seq: 0, rank: POLL_CLASS_RANK[task.pollClass] }));
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
    // A stop() still waiting for the previous run is released: the engine runs again.
    this.endLoop?.();
    this.loopDone = new Promise<void>((resolve) => {
      this.endLoop = resolve;
    });
    // A transaction still in flight from before the stop steps on by itself when it ends.
    if (this.busy) return;
    if (this.sleeping) this.wake();
    else this.step();
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

  /**
   * Start the next transaction, or go to sleep until one can start. Called when the engine is
   * neither busy nor sleeping: at start, when a transaction ends, when a timer fires or a wake
   * comes. When the engine has been stopped, the loop ends here.
   */
  private readonly step = (): void => {
    while (this.running) {
      try {
        if (this.options.transportState() !== 'open') {
          this.sleep(TRANSPORT_RECHECK_MS);
          return;
        }
        const now = this.options.clock.now();
        if (this.pick(now)) {
          // False: a command that was refused without touching the bus; pick again.
          if (this.begin()) return;
          continue;
        }
        const wakeAt = this.nextWakeAt(now);
        // Never a zero sleep: a pick that found nothing must not spin.
        this.sleep(wakeAt === undefined ? undefined : Math.max(1, wakeAt - now));
        return;
      } catch (err) {
        this.options.log.error({ err, bus: this.options.bus }, 'poll loop error');
        this.sleep(TRANSPORT_RECHECK_MS);
        return;
      }
    }
    const end = this.endLoop;
    this.endLoop = undefined;
    end?.();
  };

  /** Choose the next job (see the header for the order): sets currentCommand or currentTask/currentAlarm. */
  private pick(now: number): boolean {
    this.admit(now);
    const cmd = this.commands.shift();
    if (cmd) {
      this.currentCommand = cmd;
      return true;
    }

    const inSweep = this.popSweep(now);
    if (inSweep) return this.choose(inSweep, true);

    this.purgeReady(now);
    const sweepDue = this.alarmIntervalMs === 0 || now >= this.nextSweepAt;
    const othersDone = this.alarmIntervalMs > 0 || this.otherSinceSweep >= this.options.polling.readsBetweenAlarmSweeps || this.ready.length === 0;
    if (this.alarmTasks.length > 0 && sweepDue && othersDone) {
      this.sweepIndex = 0;
      this.sweepStartedAt = now;
      this.nextSweepAt = now + this.alarmIntervalMs;
      this.otherSinceSweep = 0;
      const first = this.popSweep(now);
      if (first) {
        this.counters.sweeps++;
        return this.choose(first, true);
      }
    }

    const entry = this.ready.shift();
    if (!entry) return false;
    entry.queued = false;
    this.otherSinceSweep++;
    return this.choose(entry.task, false);
  }

  private choose(task: T, alarm: boolean): true {
    this.currentTask = task;
    this.currentAlarm = alarm;
    return true;
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
      if (!this.deviceAllows(s.task.device, now)) this.counters.skipped++;
      else if (s.queued || this.inFlight === s.task.id) this.counters.coalesced++;
      else if (this.queueDepth() >= this.options.polling.queueLimit) this.counters.dropped++;
      else {
        s.due = due;
        s.seq = this.seq++;
        s.queued = true;
        this.insertReady(s);
        this.noteDepth();
      }
    }
  }

  /** Earlier due first; at the same time, faster classes first; then arrival order. */
  private static readyBefore<T>(a: ScheduledTask<T>, b: ScheduledTask<T>): boolean {
    return a.due !== b.due ? a.due < b.due : a.rank !== b.rank ? a.rank < b.rank : a.seq < b.seq;
  }

  private insertReady(entry: ScheduledTask<T>): void {
    const ready = this.ready;
    let lo = 0;
    let hi = ready.length;
    // Usually it belongs at the end (it fell due last): no search, no splice.
    if (hi === 0 || PollEngine.readyBefore(ready[hi - 1]!, entry)) {
      ready.push(entry);
      return;
    }
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (PollEngine.readyBefore(ready[mid]!, entry)) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, entry);
  }

  /** Drop queued reads of devices whose breaker has opened since they were queued. */
  private purgeReady(now: number): void {
    const ready = this.ready;
    let keep = 0;
    for (let i = 0; i < ready.length; i++) {
      const e = ready[i]!;
      if (this.deviceAllows(e.task.device, now)) ready[keep++] = e;
      else {
        e.queued = false;
        this.counters.skipped++;
      }
    }
    ready.length = keep;
  }

  private popSweep(now: number): T | undefined {
    while (this.sweepIndex < this.alarmTasks.length) {
      const t = this.alarmTasks[this.sweepIndex++]!;
      if (this.deviceAllows(t.device, now)) return t;
      this.counters.skipped++;
    }
    return undefined;
  }

  private sweepDone(): boolean {
    return this.sweepIndex >= this.alarmTasks.length;
  }

  private deviceAllows(device: string, now: number): boolean {
    return this.health.get(device)?.allows(now) ?? false;
  }

  private nextWakeAt(now: number): number | undefined {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.scheduled) at = Math.min(at, s.nextDue);
    if (this.alarmTasks.length > 0 && this.alarmIntervalMs > 0) at = Math.min(at, this.nextSweepAt);
    for (let i = 0; i < this.healthList.length; i++) {
      const probe = this.healthList[i]!.breaker.nextProbeAt;
      if (probe !== undefined && probe > now) at = Math.min(at, probe);
    }
    return Number.isFinite(at) ? at : undefined;
  }

  /** Start the picked job. False when it ended at once (a command for a device whose breaker opened meanwhile). */
  private begin(): boolean {
    const { clock } = this.options;
    this.counters.transactions++;
    const cmd = this.currentCommand;
    if (cmd) {
      const health = this.health.get(cmd.device)!;
      if (!health.allows(clock.now())) {
        this.counters.transactions--;
        this.currentCommand = undefined;
        cmd.reject(new ShouwangError(ErrorCodes.BREAKER_OPEN, `device ${cmd.device} is not answering (breaker open)`, { details: { device: cmd.device } }));
        return false;
      }
      this.counters.writes++;
      this.busy = true;
      this.currentStartedAt = clock.now();
      let result: Promise<unknown>;
      try {
        result = cmd.run();
      } catch (err) {
        result = Promise.reject(err);
      }
      result.then(this.onCommandDone, this.onCommandFailed);
      return true;
    }
    const task = this.currentTask!;
    this.counters.reads++;
    this.inFlight = task.id;
    this.busy = true;
    this.currentStartedAt = clock.now();
    try {
      this.options.execute(task, this.onTaskDone);
    } catch (err) {
      // As if it had failed asynchronously: done is never called from inside execute().
      queueMicrotask(() => this.onTaskDone(err, undefined, undefined, undefined));
    }
    return true;
  }

  private readonly onCommandDone = (result: unknown): void => {
    const cmd = this.currentCommand!;
    const end = this.options.clock.now();
    this.health.get(cmd.device)!.recordSuccess(end, end - this.currentStartedAt);
    cmd.resolve(result);
    this.endJob();
  };

  private readonly onCommandFailed = (err: unknown): void => {
    const cmd = this.currentCommand!;
    this.recordError(this.health.get(cmd.device)!, err, this.options.clock.now() - this.currentStartedAt, undefined);
    cmd.reject(err);
    this.endJob();
  };

  private readonly onTaskDone: TaskDone = (err, values, bad, elapsedMs, unchanged) => {
    const task = this.currentTask;
    // A second call, or one for a transaction already ended (an executor breaking its contract), is ignored.
    if (!this.busy || task === undefined || this.currentCommand !== undefined) return;
    const health = this.health.get(task.device)!;
    if (values === undefined) {
      this.recordError(health, err, this.options.clock.now() - this.currentStartedAt, task);
    } else {
      try {
        const end = this.options.clock.now();
        health.recordSuccess(end, elapsedMs ?? end - this.currentStartedAt);
        this.emitValues(task.device, values, bad ?? NOTHING_BAD, end, task.pollClass, unchanged === true);
      } catch (e) {
        this.recordError(health, e, this.options.clock.now() - this.currentStartedAt, task);
      }
    }
    this.endRead();
  };

  private endRead(): void {
    this.inFlight = undefined;
    if (this.currentAlarm && this.sweepDone()) this.lastSweepMs = this.options.clock.now() - this.sweepStartedAt;
    this.endJob();
  }

  private endJob(): void {
    this.currentTask = undefined;
    this.currentCommand = undefined;
    this.busy = false;
    this.step();
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

  private emitValues(
    device: string,
    values: Record<string, PointValue>,
    bad: Readonly<Record<string, string>>,
    ts: number,
    pollClass: ValuesBatch['pollClass'],
    unchanged = false,
  ): void {
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
    if (unchanged) batch.unchanged = true;
    // As safely() does, without a closure per read: a listener that throws must not stop the bus.
    try {
      this.options.onValues(batch);
    } catch (err) {
      this.options.log.error({ err, bus: this.options.bus }, 'onValues listener failed');
    }
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

  /** Wait for a wake(), and for `ms` at most when given. */
  private sleep(ms: number | undefined): void {
    this.sleeping = true;
    if (ms !== undefined) this.timer = this.options.clock.setTimeout(this.onTimer, ms);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (!this.sleeping) return;
    this.sleeping = false;
    this.step();
  };

  /** End a sleep early. Asynchronous, as a resolved promise would be: the caller finishes what it is doing first. */
  private wake(): void {
    if (!this.sleeping || this.wakeQueued) return;
    this.wakeQueued = true;
    queueMicrotask(this.onWake);
  }

  private readonly onWake = (): void => {
    this.wakeQueued = false;
    if (!this.sleeping) return;
    this.sleeping = false;
    if (this.timer !== undefined) {
      this.options.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.step();
  };
}

