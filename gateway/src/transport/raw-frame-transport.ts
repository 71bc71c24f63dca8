/**
 * createRawFrameTransport: devices with their own serial framing (e.g. the RS485 lock-control
 * board). One request in flight; the reply is the first valid frame from the addressed device
 * with the reply command; every other valid frame (door opened, lock state changed, or a reply
 * nobody waits for any more) is emitted as `push`.
 */
import { EventEmitter } from 'node:events';
import type { BusConfig } from '../config/schema.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { FramingDef } from '../profiles/schema.js';
import { FrameParser, encodeFrame, framingProblem, type FrameParserStats } from '../protocol/raw-frame.js';
import { charTimeMs, wireTimeMs } from '../protocol/wire-timing.js';
import { BusChannel, type Step } from './bus-channel.js';
import { interFrameSilence, linkFor } from './bus-links.js';
import { hex } from './modbus-framing.js';
import type { RawFrame, RawFrameTransport, RawFrameTransportEvents, TransportState, TransportStats } from './types.js';

/** A partial frame with no new byte for this many character times (at least MIN_STALL_MS) is given up. */
const STALL_CHARS = 10;
const MIN_STALL_MS = 20;

class SerialFrameTransport implements RawFrameTransport {
  readonly id: string;
  private readonly channel: BusChannel;
  private readonly parser: FrameParser;
  private readonly pushes = new EventEmitter();
  private readonly baud: number;
  private readonly stallMs: number;
  private stallTimer: NodeJS.Timeout | undefined;
  private parserSeen: FrameParserStats;
  private awaiting: { address: number; command: number } | undefined;

  constructor(
    private readonly bus: Extract<BusConfig, { type: 'raw-serial' }>,
    private readonly framing: FramingDef,
    private readonly log: Logger,
  ) {
    this.id = bus.id;
    this.baud = bus.baudRate;
    this.stallMs = Math.max(MIN_STALL_MS, STALL_CHARS * charTimeMs(bus.baudRate));
    this.parser = new FrameParser(framing);
    this.parserSeen = { ...this.parser.stats };
    this.channel = new BusChannel({
      id: bus.id,
      link: linkFor(bus),
      reconnectMs: bus.reconnect,
      silenceMs: interFrameSilence(bus),
      baudRate: bus.baudRate,
      log,
      onIdleData: (chunk) => this.dispatch(this.ingest(chunk)),
      onOpened: () => this.parser.reset(),
    });
  }

  get state(): TransportState {
    return this.channel.state;
  }

  open(): Promise<void> {
    return this.channel.open();
  }

  async close(): Promise<void> {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    await this.channel.close();
  }

  stats(): TransportStats {
    return this.channel.stats();
  }

  on<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void {
    if (event === 'state') this.channel.onState(listener as RawFrameTransportEvents['state']);
    else this.pushes.on('push', listener);
  }

  off<E extends keyof RawFrameTransportEvents>(event: E, listener: RawFrameTransportEvents[E]): void {
    if (event === 'state') this.channel.offState(listener as RawFrameTransportEvents['state']);
    else this.pushes.off('push', listener);
  }

  async request(address: number, command: number, data: readonly number[], replyCommand: number, opts?: { timeoutMs?: number }): Promise<RawFrame> {
    let frame: Buffer;
    try {
      frame = encodeFrame(this.framing, address, command, data);
    } catch (err) {
      throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `bus ${this.id}: cannot build frame: ${errorMessage(err)}`, { cause: err });
    }
    if (!Number.isInteger(replyCommand) || replyCommand < 0 || replyCommand > 255) {
      throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `bus ${this.id}: reply command ${replyCommand} is not a byte`);
    }
    // The reply's size is unknown; allow the wire time of a reply as long as the request.
    const timeoutMs = (opts?.timeoutMs ?? this.bus.timeout) + wireTimeMs(2 * frame.length, this.baud);
    const target = { address, command: replyCommand };
    const handler = {
      onData: (chunk: Buffer): Step<RawFrame> | undefined => {
        const frames = chunk.length === 0 ? this.flushStalled() : this.ingest(chunk);
        const match = this.dispatch(frames, target);
        return match ? { value: match } : undefined;
      },
      onTimeout: (ms: number) =>
        new ShouwangError(ErrorCodes.TRANSPORT_TIMEOUT, `bus ${this.id}: no reply 0x${replyCommand.toString(16)} from address ${address} within ${Math.round(ms)} ms`, {
          details: { bus: this.id, address, command, replyCommand, request: hex(frame) },
        }),
    };
    this.awaiting = target;
    try {
      const { value } = await this.channel.exchange(frame, handler, timeoutMs);
      return value;
    } finally {
      this.awaiting = undefined;
    }
  }

  /** Parse a chunk, account for what the parser rejected, and watch for a stalled partial frame. */
  private ingest(chunk: Buffer): RawFrame[] {
    const frames = this.parser.push(chunk);
    this.account();
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.parser.pending > 0) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = undefined;
        // While a request waits, its handler flushes (it may find the reply behind the junk).
        if (this.awaiting) this.channel.nudge();
        else this.dispatch(this.flushStalled());
      }, this.stallMs);
    }
    return frames;
  }

  private flushStalled(): RawFrame[] {
    const frames = this.parser.flush();
    this.account();
    return frames;
  }

  private account(): void {
    const now = this.parser.stats;
    const seen = this.parserSeen;
    const count = this.channel.count;
    count.crcErrors += now.badChecksums - seen.badChecksums;
    count.frameErrors += now.badLengths - seen.badLengths + (now.stalled - seen.stalled);
    // Skipped garbage counts once per chunk that had some, not once per byte.
    if (now.skippedBytes > seen.skippedBytes && now.badChecksums === seen.badChecksums && now.badLengths === seen.badLengths) count.frameErrors++;
    this.parserSeen = { ...now };
  }

  /** Hand out frames: the awaited reply (returned) and pushes (emitted). */
  private dispatch(frames: RawFrame[], awaited?: { address: number; command: number }): RawFrame | undefined {
    let match: RawFrame | undefined;
    for (const frame of frames) {
      if (!match && awaited && frame.address === awaited.address && frame.command === awaited.command) match = frame;
      else this.emitPush(frame);
    }
    return match;
  }

  private emitPush(frame: RawFrame): void {
    for (const listener of this.pushes.listeners('push')) {
      try {
        (listener as RawFrameTransportEvents['push'])(frame);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'push listener threw');
      }
    }
  }
}

export function createRawFrameTransport(bus: BusConfig, framing: FramingDef, log: Logger): RawFrameTransport {
  if (bus.type !== 'raw-serial') {
    throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `bus ${bus.id} is ${bus.type}: raw-frame devices need a raw-serial bus`);
  }
  const problem = framingProblem(framing);
  if (problem) throw new ShouwangError(ErrorCodes.PROFILE_INVALID, `framing for bus ${bus.id}: ${problem}`);
  return new SerialFrameTransport(bus, framing, log.child({ module: 'transport', bus: bus.id, type: bus.type }));
}
