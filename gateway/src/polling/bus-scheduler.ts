/**
 * One scheduler per Modbus bus (RTU, RTU over TCP, or a TCP endpoint): plans every device's
 * block reads, drives one ModbusTransport one request at a time through the poll engine, and
 * decodes replies into point values. Writes from above go through `write()` and take the next
 * slot.
 */
import type { PollingConfig } from '../config/schema.js';
import type { PointValue } from '../core/types.js';
import { silentLogger, type Logger } from '../log.js';
import type { ModbusTransport, ReadCallback, TransportState } from '../transport/types.js';
import { systemClock, type Clock } from './clock.js';
import { PollEngine, type PollTask, type TaskDone } from './engine.js';
import { decodeBlock, planDevice, type BlockPoint, type DevicePlan, type ReadBlock, type WireModel } from './planner.js';
import type { BusPollStats, PolledDevice, PollingCallbacks } from './types.js';

export interface BusSchedulerOptions extends PollingCallbacks {
  bus: string;
  transport: ModbusTransport;
  polling: PollingConfig;
  /** Devices on this bus; disabled ones (`enabled: false`) are left out. */
  devices: readonly PolledDevice[];
  /** How the bus costs time, for merging reads across gaps. */
  wire: WireModel;
  /** Cap on registers/bits read through a gap (see PlannerOptions.maxGap). */
  maxGap?: number;
  /** Per-request timeout passed to the transport; default: the transport's own. */
  requestTimeoutMs?: number;
  clock?: Clock;
  log?: Logger;
}

/** Point ids of a block's points; devices of one profile share their blocks' point lists, and so these. */
const pointIdsCache = new WeakMap<readonly BlockPoint[], readonly string[]>();
function pointIdsOf(points: readonly BlockPoint[]): readonly string[] {
  let ids = pointIdsCache.get(points);
  if (!ids) {
    ids = points.map((p) => p.def.id);
    pointIdsCache.set(points, ids);
  }
  return ids;
}

interface BlockTask extends PollTask {
  block: ReadBlock;
  plan: DevicePlan;
  /** The registers of the last successful read and what they decoded to (report by exception starts here). */
  lastRaw: number[] | undefined;
  lastValues: Record<string, PointValue> | undefined;
  lastBad: Readonly<Record<string, string>> | undefined;
  /** A point scaled by another point's value (`decimalsFrom`): its value may change while its own registers do not. */
  decodeAlways: boolean;
}

function sameRegisters(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class BusScheduler {
  readonly bus: string;
  /** The read plan of every device, for diagnostics (`shouwang read --plan`, the console). */
  readonly plans: readonly DevicePlan[];
  private readonly engine: PollEngine<BlockTask>;
  private readonly transport: ModbusTransport;
  private readonly unitIds = new Map<string, number>();
  /** Last decoded values per device, for `decimalsFrom` scales read by another block. */
  private readonly lastValues = new Map<string, Record<string, PointValue>>();
  private readonly log: Logger;
  private readonly requestTimeoutMs: number | undefined;
  /** Options passed to every read (one object, not one per read). */
  private readonly readOpts: { timeoutMs: number } | undefined;
  /** The block read in flight and the engine's callback for it (the engine runs one transaction at a time). */
  private reading: BlockTask | undefined;
  private readDone: TaskDone | undefined;
  private readonly onTransportState = (state: TransportState, reason?: string) => this.engine.transportStateChanged(state, reason);

  constructor(options: BusSchedulerOptions) {
    this.bus = options.bus;
    this.transport = options.transport;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.readOpts = options.requestTimeoutMs === undefined ? undefined : { timeoutMs: options.requestTimeoutMs };
    this.log = (options.log ?? silentLogger()).child({ module: 'polling', bus: options.bus });
    const plannerOptions = options.maxGap === undefined ? { wire: options.wire } : { wire: options.wire, maxGap: options.maxGap };
    const enabled = options.devices.filter((d) => d.config.enabled !== false);
    this.plans = enabled.map((d) => planDevice(d.config, d.profile, options.polling, plannerOptions));
    const tasks: BlockTask[] = [];
    for (const plan of this.plans) {
      this.unitIds.set(plan.device, plan.unitId);
      for (const block of plan.blocks) {
        tasks.push({
          id: block.id,
          device: block.device,
          pollClass: block.pollClass,
          intervalMs: block.intervalMs,
          pointIds: pointIdsOf(block.points),
          block,
          plan,
          lastRaw: undefined,
          lastValues: undefined,
          lastBad: undefined,
          decodeAlways: block.points.some((p) => p.def.decimalsFrom !== undefined),
        });
      }
    }
    this.engine = new PollEngine<BlockTask>({
      bus: options.bus,
      polling: options.polling,
      devices: this.plans.map((p) => p.device),
      tasks,
      execute: (task, done) => this.readBlock(task, done),
      transportState: () => this.transport.state,
      clock: options.clock ?? systemClock,
      log: this.log,
      onValues: options.onValues,
      onStatus: options.onStatus,
    });
  }

  /** Start polling. The transport is opened by its owner; polling waits while it is not open. */
  start(): void {
    if (this.engine.isRunning) return;
    this.transport.on('state', this.onTransportState);
    this.engine.start();
  }

  /** Stop polling; resolves after the request in flight has finished. */
  async stop(): Promise<void> {
    this.transport.off('state', this.onTransportState);
    await this.engine.stop();
  }

  /**
   * Write coils or holding registers of a device, in the next free slot ahead of reads. Rejects
   * with SW_ERR_DEVICE_UNKNOWN, SW_ERR_BREAKER_OPEN, SW_ERR_TRANSPORT_CLOSED, SW_ERR_QUEUE_FULL,
   * or the transport's error (timeout, Modbus exception...).
   */
  write(deviceId: string, table: 'coil' | 'holding', address: number, values: readonly number[]): Promise<void> {
    const unitId = this.unitIds.get(deviceId) ?? 1;
    const opts = this.requestTimeoutMs === undefined ? undefined : { timeoutMs: this.requestTimeoutMs };
    return this.engine.submit(deviceId, () => this.transport.write(unitId, table, address, values, opts));
  }

  stats(): BusPollStats {
    return this.engine.stats();
  }

  /**
   * One block read, in callback form end to end (transport.readWith -> decode -> engine): at
   * thousands of reads a second, every promise and result object per read was measurable
   * garbage. The engine runs one transaction at a time per bus, so the block being read and the
   * engine's callback are kept here, and the transport calls back a method bound once.
   */
  private readBlock(task: BlockTask, done: TaskDone): void {
    const { block } = task;
    this.reading = task;
    this.readDone = done;
    if (this.transport.readWith) {
      this.transport.readWith(block.unitId, block.table, block.address, block.count, this.requestTimeoutMs, this.onRead);
      return;
    }
    // A transport without the callback form (test doubles): the promise form.
    this.transport.read(block.unitId, block.table, block.address, block.count, this.readOpts).then(
      (r) => this.onRead(undefined, r.values, r.elapsedMs),
      (err: Error) => this.onRead(err, undefined, 0),
    );
  }

  private readonly onRead: ReadCallback = (err, values, elapsedMs) => {
    const task = this.reading;
    const done = this.readDone;
    this.reading = undefined;
    this.readDone = undefined;
    if (!task || !done) return;
    if (err || !values) {
      done(err, undefined, undefined, undefined);
      return;
    }
    // Most reads return exactly the registers of the previous one: no decoding, and the batch
    // says so, so that rules and state only note that the points are fresh.
    if (task.lastRaw !== undefined && !task.decodeAlways && sameRegisters(values, task.lastRaw)) {
      done(undefined, task.lastValues, task.lastBad, elapsedMs, true);
      return;
    }
    const { block, plan } = task;
    let previous = this.lastValues.get(block.device);
    if (!previous) {
      previous = {};
      this.lastValues.set(block.device, previous);
    }
    const decoded = decodeBlock(block, values, plan.codec, previous);
    if (decoded.pending.length > 0) this.log.debug({ device: block.device, points: decoded.pending }, 'waiting for decimalsFrom scale');
    // Updated in place (nobody else holds this record): a fresh copy of every point per read
    // lived about one poll period, long enough to be promoted, and swelled the old generation.
    Object.assign(previous, decoded.values);
    task.lastRaw = values;
    task.lastValues = decoded.values;
    task.lastBad = decoded.bad;
    done(undefined, decoded.values, decoded.bad, elapsedMs);
  };
}
