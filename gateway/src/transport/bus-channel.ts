/**
 * One physical bus: the link (kept open by LinkSupervisor), the FIFO lock that allows exactly
 * one request in flight, the silence before each request, per-request timeouts and the
 * counters. Protocol layers (Modbus RTU/TCP, raw frames) build on `exchange()` and only decide
 * what bytes to send and when the bytes received form their reply.
 */
import type { Logger } from '../log.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import { wireTimeMs } from '../protocol/wire-timing.js';
import type { LinkFactory } from './byte-link.js';
import { FifoLock } from './fifo-lock.js';
import { LinkSupervisor } from './link-supervisor.js';
import { waitUntil } from './precise-wait.js';
import type { TransportState, TransportStats } from './types.js';

/** What the protocol layer says after a chunk: the reply, a failure, or "bad so far, fail unless more bytes come within settleMs". */
export type Step<T> = { value: T } | { error: ShouwangError } | { settleMs: number; error: ShouwangError };

export interface ExchangeHandler<T> {
  /** A chunk arrived while this request is pending; undefined means keep waiting. */
  onData(chunk: Buffer): Step<T> | undefined;
  /** The response timeout (`timeoutMs`) ran out; the error to reject with. */
  onTimeout(timeoutMs: number): ShouwangError;
}

export interface ExchangeResult<T> {
  value: T;
  /** From the request written to the reply recognised, ms. */
  elapsedMs: number;
}

export interface BusChannelOptions {
  id: string;
  link: LinkFactory;
  reconnectMs: number;
  /** Silence kept before each request, ms (0 for Modbus TCP). */
  silenceMs: number;
  /** Line speed for wire-time accounting; undefined where there is no serial line (Modbus TCP). */
  baudRate: number | undefined;
  log: Logger;
  /** Bytes that arrive while no request is pending (late replies, garbage, unsolicited frames). */
  onIdleData(chunk: Buffer): void;
  /** A link (re)opened. */
  onOpened(): void;
}

/**
 * After a timeout the line stays quiet this long (at most) before the next request, so that a
 * slow slave's late answer lands while nothing is pending and is discarded, instead of arriving
 * in the middle of the next transaction (RTU frames carry no transaction id to tell them apart).
 */
const LATE_REPLY_GUARD_CAP_MS = 250;

/** The callback form of an exchange's outcome: an error, or the value and the transaction time. Called once, never synchronously. */
export type ExchangeDone<T> = (err: Error | undefined, value: T | undefined, elapsedMs: number) => void;

interface Pending {
  request: Buffer;
  handler: ExchangeHandler<unknown>;
  /** The callback form (exchangeWith); undefined for the promise form, which uses resolve/reject. */
  done: ExchangeDone<unknown> | undefined;
  resolve(result: ExchangeResult<unknown>): void;
  reject(err: Error): void;
  writtenAt: number;
  timeoutMs: number;
  settleTimer: NodeJS.Timeout | undefined;
}

/**
 * The request being created hands its resolvers over through this slot, so that no closure
 * is created per request (the Promise executor below is one function for all of them).
 */
let pendingBeingCreated: Pending | undefined;
function takeResolvers(resolve: (r: ExchangeResult<unknown>) => void, reject: (err: Error) => void): void {
  pendingBeingCreated!.resolve = resolve;
  pendingBeingCreated!.reject = reject;
}
const unset = (): void => {};

function newPending(request: Buffer, handler: ExchangeHandler<unknown>, timeoutMs: number, done: ExchangeDone<unknown> | undefined): Pending {
  return { request, handler, done, resolve: unset, reject: unset, writtenAt: 0, timeoutMs, settleTimer: undefined };
}

export class BusChannel {
  readonly id: string;
  private readonly counters: Omit<TransportStats, 'reopens'> = {
    requests: 0,
    responses: 0,
    timeouts: 0,
    crcErrors: 0,
    frameErrors: 0,
    exceptions: 0,
    wireMs: 0,
  };
  private readonly lock = new FifoLock();
  private readonly supervisor: LinkSupervisor;
  private pending: Pending | undefined;
  /** performance.now() of the last byte received or of the end of the last exchange. */
  private lastBusyAt = -Infinity;
  /** performance.now() before which no request is written (the late-reply guard after a timeout). */
  private quietUntil = -Infinity;
  /**
   * One response timer per bus, and not re-armed per request: the request in flight has a
   * deadline, and the timer, when it fires, either times the request out or sleeps on until the
   * deadline. A bus answering in a few ms thus touches its timer about once per timeout period,
   * not once per request (a new setTimeout or a refresh() per request was a measurable part of
   * the CPU and garbage at thousands of requests per second).
   */
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** The timer is counting (not fired, not cleared); its delay, ms; and performance.now() it is due at. */
  private timerActive = false;
  private timerDelayMs = -1;
  private timerDueAt = 0;
  /** Deadline of the request in flight, performance.now() ms (while armed). */
  private deadline = 0;
  private timeoutArmed = false;
  private readonly onTimerFired = (): void => this.timerFired();

  constructor(private readonly opts: BusChannelOptions) {
    this.id = opts.id;
    this.supervisor = new LinkSupervisor(opts.id, opts.link, opts.reconnectMs, opts.log, {
      data: (chunk) => this.onData(chunk),
      opened: () => opts.onOpened(),
      lost: (err) => this.failAll(err),
    });
  }

  get state(): TransportState {
    return this.supervisor.state;
  }

  /** Counters; the protocol layer adds discarded garbage to frameErrors (outcomes are counted here). */
  get count(): Omit<TransportStats, 'reopens'> {
    return this.counters;
  }

  stats(): TransportStats {
    return { ...this.counters, reopens: this.supervisor.reopens };
  }

  onState(listener: (state: TransportState, reason?: string) => void): void {
    this.supervisor.events.on('state', listener);
  }

  offState(listener: (state: TransportState, reason?: string) => void): void {
    this.supervisor.events.off('state', listener);
  }

  open(): Promise<void> {
    return this.supervisor.open();
  }

  async close(): Promise<void> {
    try {
      await this.supervisor.close();
    } finally {
      this.dropTimeoutTimer();
    }
  }

  /**
   * Send one request and wait for its reply, holding the bus for the whole transaction (the lock
   * is released when the request finishes, in finish()). Not an async function: the common case
   * (lock free, line quiet) costs one Promise, not a chain of them per transaction.
   */
  exchange<T>(request: Buffer, handler: ExchangeHandler<T>, timeoutMs: number): Promise<ExchangeResult<T>> {
    const p = newPending(request, handler as ExchangeHandler<unknown>, timeoutMs, undefined);
    pendingBeingCreated = p;
    const promise = new Promise<ExchangeResult<unknown>>(takeResolvers);
    pendingBeingCreated = undefined;
    this.begin(p);
    return promise as Promise<ExchangeResult<T>>;
  }

  /**
   * exchange() with a callback instead of a promise, for pollers running thousands of
   * transactions a second: no promise, no result object. `done` is called exactly once, never
   * before this returns.
   */
  exchangeWith<T>(request: Buffer, handler: ExchangeHandler<T>, timeoutMs: number, done: ExchangeDone<T>): void {
    this.begin(newPending(request, handler as ExchangeHandler<unknown>, timeoutMs, done as ExchangeDone<unknown>));
  }

  private begin(p: Pending): void {
    if (this.supervisor.state !== 'open') {
      this.giveUp(p, this.closedError());
      return;
    }
    const haveLock = this.lock.tryAcquire();
    if (haveLock && this.lineIsQuiet()) this.transmit(p);
    else void this.transmitWhenReady(p, haveLock);
  }

  /** The slow path: wait for the lock (unless already taken) and for a quiet line, then transmit. */
  private async transmitWhenReady(p: Pending, haveLock: boolean): Promise<void> {
    try {
      if (!haveLock) await this.lock.acquire();
    } catch (err) {
      this.giveUp(p, err as Error);
      return;
    }
    try {
      if (!this.lineIsQuiet()) await this.waitForQuietLine(Math.max(p.timeoutMs, LATE_REPLY_GUARD_CAP_MS + this.opts.silenceMs));
      if (this.supervisor.state !== 'open') throw this.closedError();
    } catch (err) {
      this.lock.release();
      this.giveUp(p, err as Error);
      return;
    }
    this.transmit(p);
  }

  /** The request never went out (bus closed, lost while waiting): fail it, later, and count nothing. */
  private giveUp(p: Pending, err: Error): void {
    if (p.done) queueMicrotask(() => this.deliver(p, { error: err }, 0));
    else p.reject(err);
  }

  /** With the lock held: write the request; finish() settles the exchange and releases the lock. */
  private transmit(p: Pending): void {
    p.writtenAt = performance.now();
    this.pending = p;
    this.armTimeout(p.writtenAt, p.timeoutMs);
    this.counters.requests++;
    this.addWire(p.request.length);
    if (!this.supervisor.write(p.request)) this.finish(p, { error: this.closedError() }, true);
  }

  private armTimeout(now: number, timeoutMs: number): void {
    this.timeoutArmed = true;
    this.deadline = now + timeoutMs;
    // A timer already set to fire before this deadline will find it and wait on.
    if (this.timerActive && this.timerDueAt <= this.deadline) return;
    this.setTimer(now, this.deadline);
  }

  private setTimer(now: number, at: number): void {
    // Node timers have 1 ms resolution: round up, never fire before the deadline is due.
    const delay = Math.max(1, Math.ceil(at - now));
    if (this.timeoutTimer !== undefined && !this.timerActive && delay === this.timerDelayMs) {
      // A fired timer can be started again as it is (a cleared one cannot).
      this.timeoutTimer.refresh();
    } else {
      if (this.timeoutTimer !== undefined && this.timerActive) clearTimeout(this.timeoutTimer);
      this.timeoutTimer = setTimeout(this.onTimerFired, delay);
      this.timerDelayMs = delay;
    }
    this.timerActive = true;
    this.timerDueAt = at;
  }

  private disarmTimeout(): void {
    // The timer keeps counting: it fires at most once more, finds nothing armed (or a later deadline) and stops.
    this.timeoutArmed = false;
  }

  private dropTimeoutTimer(): void {
    this.timeoutArmed = false;
    if (this.timeoutTimer !== undefined) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    this.timerActive = false;
  }

  private timerFired(): void {
    this.timerActive = false;
    if (!this.timeoutArmed) return;
    const now = performance.now();
    // Not yet: the request in flight was written after this timer was set.
    if (now < this.deadline) {
      this.setTimer(now, this.deadline);
      return;
    }
    this.timeoutArmed = false;
    const p = this.pending;
    if (p) this.onTimeout(p, p.timeoutMs);
  }

  /** True when a request may be written now without waiting for silence or the late-reply guard. */
  private lineIsQuiet(): boolean {
    return performance.now() >= Math.max(this.lastBusyAt + this.opts.silenceMs, this.quietUntil);
  }

  private closedError(): ShouwangError {
    return new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.id} is ${this.supervisor.state}`);
  }

  /**
   * Keep the silence after the last frame (and the late-reply guard after a timeout). Bytes
   * arriving meanwhile restart it, but a babbling line cannot hold the bus for longer than
   * `maxWaitMs`: then we talk anyway and let CRC errors and timeouts show what is wrong.
   */
  private async waitForQuietLine(maxWaitMs: number): Promise<void> {
    const giveUpAt = performance.now() + maxWaitMs;
    for (;;) {
      const deadline = Math.min(giveUpAt, Math.max(this.lastBusyAt + this.opts.silenceMs, this.quietUntil));
      if (performance.now() >= deadline) return;
      await waitUntil(deadline);
    }
  }

  private addWire(bytes: number): void {
    if (this.opts.baudRate) this.counters.wireMs += wireTimeMs(bytes, this.opts.baudRate);
  }

  private onData(chunk: Buffer): void {
    // Timestamp first: the silence before the next request counts from this moment.
    this.lastBusyAt = performance.now();
    this.addWire(chunk.length);
    const p = this.pending;
    if (p) this.offer(p, chunk);
    else this.opts.onIdleData(chunk);
  }

  /**
   * Ask the pending request's handler to look again, with an empty chunk (for protocol-level
   * timers, e.g. a raw-frame parser giving up on a stalled partial frame). No-op when idle.
   */
  nudge(): void {
    if (this.pending) this.offer(this.pending, Buffer.alloc(0));
  }

  private offer(p: Pending, chunk: Buffer): void {
    let step: Step<unknown> | undefined;
    try {
      step = p.handler.onData(chunk);
    } catch (err) {
      step = { error: new ShouwangError(ErrorCodes.TRANSPORT_FRAME, `bus ${this.id}: cannot parse reply: ${errorMessage(err)}`, { cause: err }) };
    }
    if (p.settleTimer) {
      clearTimeout(p.settleTimer);
      p.settleTimer = undefined;
    }
    if (!step) return;
    if ('settleMs' in step) {
      const err = step.error;
      p.settleTimer = setTimeout(() => {
        this.lastBusyAt = Math.max(this.lastBusyAt, performance.now());
        this.finish(p, { error: err });
      }, step.settleMs);
      return;
    }
    this.finish(p, step);
  }

  private onTimeout(p: Pending, timeoutMs: number): void {
    if (this.pending !== p) return;
    const err = p.handler.onTimeout(timeoutMs);
    const now = performance.now();
    if (err.code === ErrorCodes.TRANSPORT_TIMEOUT) {
      this.quietUntil = now + Math.min(timeoutMs, LATE_REPLY_GUARD_CAP_MS);
    }
    this.lastBusyAt = Math.max(this.lastBusyAt, now);
    this.finish(p, { error: err });
  }

  /** `deferred`: settled while its request is being sent, so the callback form must wait (it is never called synchronously). */
  private finish(p: Pending, outcome: { value: unknown } | { error: Error }, deferred = false): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    this.disarmTimeout();
    if (p.settleTimer) clearTimeout(p.settleTimer);
    this.countOutcome(outcome);
    // The transaction is over: the next request may go (after its silence).
    this.lock.release();
    const elapsedMs = performance.now() - p.writtenAt;
    if (p.done) {
      // Called from the I/O or timer callback that ended the exchange: the next request of a
      // poller may be sent from inside it (no promise, no microtask in between).
      if (deferred) queueMicrotask(() => this.deliver(p, outcome, elapsedMs));
      else this.deliver(p, outcome, elapsedMs);
    } else if ('error' in outcome) p.reject(outcome.error);
    else p.resolve({ value: outcome.value, elapsedMs });
  }

  /** Hand the outcome to the callback form; a callback that throws must not break the link's I/O callback it runs in. */
  private deliver(p: Pending, outcome: { value: unknown } | { error: Error }, elapsedMs: number): void {
    try {
      if ('error' in outcome) p.done!(outcome.error, undefined, elapsedMs);
      else p.done!(undefined, outcome.value, elapsedMs);
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err), bus: this.id }, 'exchange callback failed');
    }
  }

  /** Counted by outcome, once, so a bad frame followed by the good one within the settle time is not an error. */
  private countOutcome(outcome: { value: unknown } | { error: Error }): void {
    if (!('error' in outcome)) {
      this.counters.responses++;
      return;
    }
    const code = outcome.error instanceof ShouwangError ? outcome.error.code : undefined;
    if (code === ErrorCodes.TRANSPORT_TIMEOUT) this.counters.timeouts++;
    else if (code === ErrorCodes.TRANSPORT_CRC) this.counters.crcErrors++;
    else if (code === ErrorCodes.TRANSPORT_FRAME) this.counters.frameErrors++;
    else if (code === ErrorCodes.MODBUS_EXCEPTION) {
      this.counters.exceptions++;
      this.counters.responses++;
    }
  }

  /** The link is gone: fail the request in flight and everything queued now, not at their timeouts. */
  private failAll(err: ShouwangError): void {
    // Waiters first: finish() hands the lock on, and they must fail with this error, not take the bus.
    this.lock.rejectWaiting(err);
    if (this.pending) this.finish(this.pending, { error: err });
  }
}
