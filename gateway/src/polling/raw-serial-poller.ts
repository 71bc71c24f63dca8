/**
 * Poller for raw-serial devices (profiles with a `serial` block, e.g. the WKLY lock board
 * `57 4B 4C 59 | len | addr | cmd | data | XOR`). Polls `serial.requests` by their poll class
 * through a RawFrameTransport, decodes frame points from replies and from unsolicited pushes,
 * and shares scheduling, breaker and online/offline logic with the Modbus scheduler (engine).
 */
import type { PollingConfig } from '../config/schema.js';
import type { PointValue } from '../core/types.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { decodeFramePoint } from '../profiles/codec.js';
import { isFramePoint, type FramePointDef, type Profile, type SerialDef } from '../profiles/schema.js';
import type { RawFrame, RawFrameTransport, TransportState } from '../transport/types.js';
import { systemClock, type Clock } from './clock.js';
import { PollEngine, settleTask, type PollTask, type TaskResult } from './engine.js';
import { resolvePoll } from './planner.js';
import type { BusPollStats, PolledDevice, PollingCallbacks } from './types.js';

export interface RawSerialPollerOptions extends PollingCallbacks {
  bus: string;
  transport: RawFrameTransport;
  polling: PollingConfig;
  /** Devices on this bus with a `serial` profile block; `unitId` is the frame address. Disabled ones are left out. */
  devices: readonly PolledDevice[];
  requestTimeoutMs?: number;
  clock?: Clock;
  log?: Logger;
}

type RequestDef = SerialDef['requests'][number];

interface FrameTask extends PollTask {
  address: number;
  request: RequestDef;
  points: FramePointDef[];
}

interface RawDevice {
  id: string;
  address: number;
  profile: Profile;
  serial: SerialDef;
  points: FramePointDef[];
}

export class RawSerialPoller {
  readonly bus: string;
  private readonly engine: PollEngine<FrameTask>;
  private readonly transport: RawFrameTransport;
  private readonly devicesById = new Map<string, RawDevice>();
  private readonly devicesByAddress = new Map<number, RawDevice>();
  private readonly log: Logger;
  private readonly requestTimeoutMs: number | undefined;
  private readonly onTransportState = (state: TransportState, reason?: string) => this.engine.transportStateChanged(state, reason);
  private readonly onPush = (frame: RawFrame) => this.handlePush(frame);

  constructor(options: RawSerialPollerOptions) {
    this.bus = options.bus;
    this.transport = options.transport;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.log = (options.log ?? silentLogger()).child({ module: 'polling', bus: options.bus });
    const tasks: FrameTask[] = [];
    for (const { config, profile } of options.devices) {
      if (config.enabled === false) continue;
      if (!profile.serial)
        throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `device "${config.id}" on raw-serial bus ${options.bus}: profile "${profile.id}" has no serial block`);
      const address = config.unitId ?? 1;
      const prior = this.devicesByAddress.get(address);
      if (prior)
        throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `devices "${prior.id}" and "${config.id}" share address ${address} on raw-serial bus ${options.bus}`);
      const device: RawDevice = { id: config.id, address, profile, serial: profile.serial, points: profile.points.filter(isFramePoint) };
      this.devicesById.set(config.id, device);
      this.devicesByAddress.set(address, device);
      for (const request of profile.serial.requests) {
        const poll = resolvePoll(request.poll ?? 'normal', options.polling.intervals);
        const points = device.points.filter((p) => p.frame === request.id);
        tasks.push({
          id: `${config.id}/${request.id}`,
          device: config.id,
          pollClass: poll.pollClass,
          intervalMs: poll.intervalMs,
          pointIds: points.map((p) => p.id),
          address,
          request,
          points,
        });
      }
    }
    this.engine = new PollEngine<FrameTask>({
      bus: options.bus,
      polling: options.polling,
      devices: [...this.devicesById.keys()],
      tasks,
      execute: (task, done) => settleTask(this.poll(task), done),
      transportState: () => this.transport.state,
      clock: options.clock ?? systemClock,
      log: this.log,
      onValues: options.onValues,
      onStatus: options.onStatus,
    });
  }

  start(): void {
    if (this.engine.isRunning) return;
    this.transport.on('state', this.onTransportState);
    this.transport.on('push', this.onPush);
    this.engine.start();
  }

  async stop(): Promise<void> {
    this.transport.off('state', this.onTransportState);
    this.transport.off('push', this.onPush);
    await this.engine.stop();
  }

  /**
   * Send one of the profile's `serial.commands` frames (e.g. `open_lock` with the lock number
   * as `arg`) in the next free slot; resolves with the reply frame.
   */
  sendFrame(deviceId: string, frameId: string, arg?: number): Promise<RawFrame> {
    const device = this.devicesById.get(deviceId);
    if (!device) return Promise.reject(new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `bus ${this.bus}: unknown device "${deviceId}"`));
    const def = device.serial.commands.find((c) => c.id === frameId);
    if (!def) return Promise.reject(new ShouwangError(ErrorCodes.COMMAND_UNKNOWN, `device ${deviceId}: profile "${device.profile.id}" has no serial command "${frameId}"`));
    if (def.data.includes('arg') && (arg === undefined || !Number.isInteger(arg) || arg < 0 || arg > 255))
      return Promise.reject(new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `device ${deviceId}: command "${frameId}" needs an argument 0-255, got ${String(arg)}`));
    const data = def.data.map((b) => (b === 'arg' ? (arg ?? 0) : b));
    return this.engine.submit(deviceId, () => this.transport.request(device.address, def.command, data, def.reply ?? def.command, this.requestOpts()));
  }

  stats(): BusPollStats {
    return this.engine.stats();
  }

  private requestOpts(): { timeoutMs: number } | undefined {
    return this.requestTimeoutMs === undefined ? undefined : { timeoutMs: this.requestTimeoutMs };
  }

  private async poll(task: FrameTask): Promise<TaskResult> {
    const { request } = task;
    // A polled request has no caller to supply an argument; `arg` bytes are sent as 0.
    const data = request.data.map((b) => (b === 'arg' ? 0 : b));
    const reply = await this.transport.request(task.address, request.command, data, request.reply ?? request.command, this.requestOpts());
    // The reply frame carries no duration: the engine times the exchange with its clock.
    return decodeFrame(task.points, reply.data);
  }

  private handlePush(frame: RawFrame): void {
    try {
      const device = this.devicesByAddress.get(frame.address);
      if (!device || !this.engine.hasDevice(device.id)) {
        this.log.debug({ address: frame.address, command: frame.command }, 'push from unknown address');
        return;
      }
      // A push names its frame by command byte; a board may also push its status reply unasked.
      const frameId =
        device.serial.pushes.find((p) => p.command === frame.command)?.id ??
        device.serial.requests.find((r) => (r.reply ?? r.command) === frame.command)?.id;
      if (frameId === undefined) {
        this.log.debug({ device: device.id, command: frame.command }, 'push with unknown command');
        return;
      }
      const { values, bad } = decodeFrame(
        device.points.filter((p) => p.frame === frameId),
        frame.data,
      );
      this.engine.recordPush(device.id, values, bad);
    } catch (err) {
      this.log.error({ err }, 'push handling failed');
    }
  }
}

/** Decode the frame points of one frame's data; points beyond the data are `bad`. Never throws. */
export function decodeFrame(points: readonly FramePointDef[], data: Uint8Array): { values: Record<string, PointValue>; bad: Record<string, string> } {
  const values: Record<string, PointValue> = {};
  const bad: Record<string, string> = {};
  for (const def of points) {
    try {
      const v = decodeFramePoint(def, data);
      if (v === undefined) bad[def.id] = `frame too short: ${data.length} data bytes`;
      else if (v === null) bad[def.id] = 'not a finite number';
      else values[def.id] = v;
    } catch (err) {
      bad[def.id] = `decode failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return { values, bad };
}
