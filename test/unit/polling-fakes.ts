/**
 * Test doubles for the polling unit tests: a manual clock, and fake Modbus / raw-frame
 * transports whose transactions take wire-timed fake time (transactionMinMs + turnaround), so
 * rates and latencies measured in tests are the ones a real 9600-baud bus would give.
 */
import { ErrorCodes, ShouwangError } from '../../gateway/src/errors.js';
import type { Clock, TimerHandle } from '../../gateway/src/polling/clock.js';
import { blockWireBytes } from '../../gateway/src/polling/planner.js';
import type { ModbusTable } from '../../gateway/src/profiles/schema.js';
import { transactionMinMs, wireTimeMs } from '../../gateway/src/protocol/wire-timing.js';
import type {
  ModbusTransport,
  RawFrame,
  RawFrameTransport,
  RawFrameTransportEvents,
  ReadResult,
  TransportState,
  TransportStats,
} from '../../gateway/src/transport/types.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that only moves when the test says so; timers fire in time order, microtasks settle between them. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Advance by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

type Listener = (...args: never[]) => void;

class Emitter {
  private readonly listeners = new Map<string, Set<Listener>>();
  on(event: string, l: Listener): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(l);
  }
  off(event: string, l: Listener): void {
    this.listeners.get(event)?.delete(l);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) (l as (...a: unknown[]) => void)(...args);
  }
  count(event: string): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}

export interface FakeSlave {
  unit: number;
  tables: Record<ModbusTable, Map<number, number>>;
  /** No answer at all: every request times out. */
  dead: boolean;
  /** Answer reads of this table/range with Modbus exception 2. */
  exceptionOn?: (table: ModbusTable, address: number, count: number) => boolean;
}

export interface TransactionLog {
  kind: 'read' | 'write';
  unit: number;
  table: ModbusTable;
  address: number;
  count: number;
  start: number;
  end: number;
  outcome: 'ok' | 'timeout' | 'exception' | 'closed';
}

export class FakeModbusTransport implements ModbusTransport {
  readonly id = 'fake-bus';
  state: TransportState = 'open';
  readonly log: TransactionLog[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly slaves = new Map<number, FakeSlave>();
  private readonly events = new Emitter();

  /** The callback form of read() (what the real transport offers); absent when built with `promiseOnly`. */
  readWith?: ModbusTransport['readWith'];

  constructor(
    private readonly clock: ManualClock,
    readonly options: { baudRate: number; turnaroundMs: number; timeoutMs: number } = { baudRate: 9600, turnaroundMs: 5, timeoutMs: 300 },
    { promiseOnly = false }: { promiseOnly?: boolean } = {},
  ) {
    if (!promiseOnly) {
      this.readWith = (unitId, table, address, count, timeoutMs, done) => {
        this.read(unitId, table, address, count, timeoutMs === undefined ? undefined : { timeoutMs }).then(
          (r) => done(undefined, r.values, r.elapsedMs),
          (err: Error) => done(err, undefined, 0),
        );
      };
    }
  }

  slave(unit: number): FakeSlave {
    let s = this.slaves.get(unit);
    if (!s) {
      s = { unit, tables: { coil: new Map(), discrete: new Map(), input: new Map(), holding: new Map() }, dead: false };
      this.slaves.set(unit, s);
    }
    return s;
  }

  /** Time one successful read of `count` takes on this fake bus, ms. */
  readMs(table: ModbusTable, count: number): number {
    const { request, reply } = blockWireBytes(table, count);
    return transactionMinMs(request, reply, this.options.baudRate) + this.options.turnaroundMs;
  }

  async open(): Promise<void> {
    this.setState('open');
  }
  async close(): Promise<void> {
    this.setState('closed', 'closed by test');
  }

  setState(state: TransportState, reason?: string): void {
    this.state = state;
    this.events.emit('state', state, reason);
  }

  listenerCount(event: string): number {
    return this.events.count(event);
  }

  read(unitId: number, table: ModbusTable, address: number, count: number, opts?: { timeoutMs?: number }): Promise<ReadResult> {
    return this.transact('read', unitId, table, address, count, opts, (slave) => {
      const values: number[] = [];
      for (let a = address; a < address + count; a++) values.push(slave.tables[table].get(a) ?? 0);
      return values;
    }) as Promise<ReadResult>;
  }

  /** Reject writes before they reach the wire, as a transport does for an invalid payload. */
  refuseWrites = false;

  async write(unitId: number, table: 'coil' | 'holding', address: number, values: readonly number[], opts?: { timeoutMs?: number }): Promise<void> {
    if (this.refuseWrites) throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, 'bus fake: value out of range');
    await this.transact('write', unitId, table, address, values.length, opts, (slave) => {
      values.forEach((v, i) => slave.tables[table].set(address + i, v));
      return [];
    });
  }

  private transact(
    kind: 'read' | 'write',
    unit: number,
    table: ModbusTable,
    address: number,
    count: number,
    opts: { timeoutMs?: number } | undefined,
    act: (slave: FakeSlave) => number[],
  ): Promise<ReadResult | void> {
    const start = this.clock.now();
    const entry: TransactionLog = { kind, unit, table, address, count, start, end: start, outcome: 'ok' };
    this.log.push(entry);
    if (this.state !== 'open') {
      entry.outcome = 'closed';
      return Promise.reject(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, 'transport closed'));
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const slave = this.slave(unit);
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void) => {
        entry.end = this.clock.now();
        this.inFlight--;
        fn();
      };
      if (slave.dead) {
        entry.outcome = 'timeout';
        this.clock.setTimeout(() => finish(() => reject(new ShouwangError(ErrorCodes.TRANSPORT_TIMEOUT, `unit ${unit}: no reply`))), opts?.timeoutMs ?? this.options.timeoutMs);
        return;
      }
      const requestMs = wireTimeMs(8, this.options.baudRate);
      if (kind === 'read' && slave.exceptionOn?.(table, address, count)) {
        entry.outcome = 'exception';
        this.clock.setTimeout(
          () => finish(() => reject(new ShouwangError(ErrorCodes.MODBUS_EXCEPTION, `unit ${unit}: exception 2 (illegal data address)`))),
          transactionMinMs(8, 5, this.options.baudRate) + this.options.turnaroundMs,
        );
        return;
      }
      const total = kind === 'read' ? this.readMs(table, count) : transactionMinMs(8, 8, this.options.baudRate) + this.options.turnaroundMs;
      // The slave samples its registers when the request has arrived, and answers after the reply's wire time.
      let values: number[] = [];
      this.clock.setTimeout(() => {
        values = act(slave);
      }, requestMs);
      this.clock.setTimeout(
        () =>
          finish(() =>
            resolve(kind === 'read' ? { values, request: Buffer.alloc(8), response: Buffer.alloc(5), elapsedMs: total } : undefined),
          ),
        total,
      );
    });
  }

  stats(): TransportStats {
    return { requests: this.log.length, responses: 0, timeouts: 0, crcErrors: 0, frameErrors: 0, exceptions: 0, reopens: 0, wireMs: 0 };
  }

  on<E extends 'state'>(event: E, listener: (state: TransportState, reason?: string) => void): void {
    this.events.on(event, listener as Listener);
  }
  off<E extends 'state'>(event: E, listener: (state: TransportState, reason?: string) => void): void {
    this.events.off(event, listener as Listener);
  }
}

export interface FakeBoard {
  address: number;
  dead: boolean;
  /** Reply data per reply command byte. */
  replies: Map<number, number[]>;
}

export interface FrameLog {
  address: number;
  command: number;
  data: number[];
  start: number;
  outcome: 'ok' | 'timeout';
}

export class FakeRawFrameTransport implements RawFrameTransport {
  readonly id = 'fake-raw';
  state: TransportState = 'open';
  readonly log: FrameLog[] = [];
  private readonly boards = new Map<number, FakeBoard>();
  private readonly events = new Emitter();

  constructor(
    private readonly clock: ManualClock,
    readonly options: { baudRate: number; turnaroundMs: number; timeoutMs: number } = { baudRate: 9600, turnaroundMs: 5, timeoutMs: 300 },
  ) {}

  board(address: number): FakeBoard {
    let b = this.boards.get(address);
    if (!b) this.boards.set(address, (b = { address, dead: false, replies: new Map() }));
    return b;
  }

  async open(): Promise<void> {
    this.setState('open');
  }
  async close(): Promise<void> {
    this.setState('closed');
  }
  setState(state: TransportState, reason?: string): void {
    this.state = state;
    this.events.emit('state', state, reason);
  }

  /** An unsolicited frame from a board. */
  push(address: number, command: number, data: number[]): void {
    const frame: RawFrame = { address, command, data: Buffer.from(data), raw: Buffer.from(data) };
    this.events.emit('push', frame);
  }

  request(address: number, command: number, data: readonly number[], replyCommand: number, opts?: { timeoutMs?: number }): Promise<RawFrame> {
    const start = this.clock.now();
    const entry: FrameLog = { address, command, data: [...data], start, outcome: 'ok' };
    this.log.push(entry);
    if (this.state !== 'open') return Promise.reject(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, 'transport closed'));
    const board = this.board(address);
    return new Promise((resolve, reject) => {
      if (board.dead) {
        entry.outcome = 'timeout';
        this.clock.setTimeout(() => reject(new ShouwangError(ErrorCodes.TRANSPORT_TIMEOUT, `board ${address}: no reply`)), opts?.timeoutMs ?? this.options.timeoutMs);
        return;
      }
      const replyData = board.replies.get(replyCommand) ?? [];
      // Frame: 4 header + len + addr + cmd + data + xor.
      const ms = transactionMinMs(8 + data.length, 8 + replyData.length, this.options.baudRate) + this.options.turnaroundMs;
      this.clock.setTimeout(() => resolve({ address, command: replyCommand, data: Buffer.from(replyData), raw: Buffer.from(replyData) }), ms);
    });
  }

  stats(): TransportStats {
    return { requests: this.log.length, responses: 0, timeouts: 0, crcErrors: 0, frameErrors: 0, exceptions: 0, reopens: 0, wireMs: 0 };
  }

  on<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void {
    this.events.on(event, listener as Listener);
  }
  off<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void {
    this.events.off(event, listener as Listener);
  }
}

/** Await a promise that needs fake time to pass (e.g. stop() waiting for the request in flight). */
export async function settle<T>(clock: ManualClock, promise: Promise<T>, stepMs = 10, maxMs = 60_000): Promise<T> {
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  // The caller awaits `tracked` after the loop; mark it handled now so a rejection that settles
  // during the loop is not reported as unhandled in the meantime.
  tracked.catch(() => {});
  for (let t = 0; t < maxMs && !done; t += stepMs) await clock.advance(stepMs);
  return tracked;
}
