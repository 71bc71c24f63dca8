/**
 * One scheduler per Modbus bus (RTU, RTU over TCP, or a TCP endpoint): plans every device's
 * block reads, drives one ModbusTransport one request at a time through the poll engine, and
 * decodes replies into point values. Writes from above go through `write()` and take the next
 * slot.
 */
import type { PollingConfig } from '../config/schema.js';
import type { PointValue } from '../core/types.js';
import { silentLogger, type Logger } from '../log.js';
import type { ModbusTransport, TransportState } from '../transport/types.js';
import { systemClock, type Clock } from './clock.js';
import { PollEngine, type PollTask, type TaskResult } from './engine.js';
import { decodeBlock, planDevice, type DevicePlan, type ReadBlock, type WireModel } from './planner.js';
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

interface BlockTask extends PollTask {
  block: ReadBlock;
  plan: DevicePlan;
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
  private readonly onTransportState = (state: TransportState, reason?: string) => this.engine.transportStateChanged(state, reason);

  constructor(options: BusSchedulerOptions) {
    this.bus = options.bus;
    this.transport = options.transport;
    this.requestTimeoutMs = options.requestTimeoutMs;
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
          pointIds: block.points.map((p) => p.def.id),
          block,
          plan,
        });
      }
    }
    this.engine = new PollEngine<BlockTask>({
      bus: options.bus,
      polling: options.polling,
      devices: this.plans.map((p) => p.device),
      tasks,
      execute: (task) => this.readBlock(task),
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

  private async readBlock(task: BlockTask): Promise<TaskResult> {
    const { block, plan } = task;
    const opts = this.requestTimeoutMs === undefined ? undefined : { timeoutMs: this.requestTimeoutMs };
    const reply = await this.transport.read(block.unitId, block.table, block.address, block.count, opts);
    let previous = this.lastValues.get(block.device);
    if (!previous) {
      previous = {};
      this.lastValues.set(block.device, previous);
    }
    const decoded = decodeBlock(block, reply.values, plan.codec, previous);
    if (decoded.pending.length > 0) this.log.debug({ device: block.device, points: decoded.pending }, 'waiting for decimalsFrom scale');
    // Updated in place (nobody else holds this record): a fresh copy of every point per read
    // lived about one poll period, long enough to be promoted, and swelled the old generation.
    Object.assign(previous, decoded.values);
    return { values: decoded.values, bad: decoded.bad, elapsedMs: reply.elapsedMs };
  }
}
