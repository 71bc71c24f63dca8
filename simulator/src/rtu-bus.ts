/**
 * The slaves of one RS485 line, as the master sees them. All slaves share one byte stream (a pty
 * pair or an RTU-over-TCP socket): requests are framed by function code, every CRC is checked
 * (a bad frame gets no answer, as from a real device), only this line's unit ids answer,
 * broadcasts are executed silently, and every reply is written at the moment a real line at
 * this baud would have delivered it. A request that starts before the line has been quiet for
 * t3.5 is discarded and counted, as a real slave would discard it.
 */
import type { Logger } from '../../gateway/src/log.js';
import { appendCrc, hasValidCrc } from '../../gateway/src/protocol/crc16.js';
import { silenceMs, wireTimeMs } from '../../gateway/src/protocol/wire-timing.js';
import { monoNow, monoToEpoch, SampleWindow, type ReplyScheduler } from './clock.js';
import type { SimDevice } from './device-model.js';
import { answerPdu, executeBroadcast } from './modbus-slave.js';
import type { Rng } from './rng.js';
import { scanRtuRequest } from './rtu-framing.js';
import { breaksSilence, frameEndsAt, replyDueAt } from './rtu-timing.js';

/** Writes one frame to whoever sent the request (the pty, or one TCP client). False when gone. */
export type FrameSink = (frame: Buffer) => boolean;

export interface BusFaults {
  /** Probability a request is corrupted on receipt (the slave then stays silent). */
  crcRequestRate: number;
  /** Probability a reply is corrupted on the way back (the master sees a CRC error). */
  crcReplyRate: number;
}

export interface UnitStats {
  requests: number;
  replies: number;
  exceptions: number;
  /** Requests a dead slave ignored. */
  ignored: number;
}

export interface TimingSummary {
  count: number;
  /** Reply written minus target, ms (never negative: the slave never answers early). */
  meanErrorMs: number;
  p50ErrorMs: number;
  p99ErrorMs: number;
  maxErrorMs: number;
}

export interface RtuBusStats {
  id: string;
  type: 'rtu' | 'rtu-over-tcp';
  baud: number;
  /** Every frame seen on the line, good or bad. */
  frames: number;
  /** Frames with a good CRC that kept the silence rule. */
  requests: number;
  replies: number;
  crcDropped: number;
  silenceViolations: number;
  exceptions: number;
  broadcasts: number;
  /** Good frames for a unit id nobody on this line has. */
  otherUnits: number;
  injectedRequestCorruptions: number;
  injectedReplyCorruptions: number;
  /** Sum of the wire time of every frame on the line, ms (utilisation = busyWireMs / elapsed). */
  busyWireMs: number;
  perUnit: Record<string, UnitStats>;
  replyTiming: TimingSummary;
}

export interface RtuBusOptions {
  id: string;
  type: 'rtu' | 'rtu-over-tcp';
  baud: number;
  devices: readonly SimDevice[];
  scheduler: ReplyScheduler;
  faultRng: Rng;
  log: Logger;
}

export class RtuSlaveBus {
  readonly id: string;
  readonly baud: number;
  readonly faults: BusFaults = { crcRequestRate: 0, crcReplyRate: 0 };
  private readonly byUnit = new Map<number, SimDevice>();
  private buf: Buffer = Buffer.alloc(0);
  private frameStart = 0;
  private frameSink: FrameSink | undefined;
  /** Monotonic time the last frame on the line (request or reply) ended. */
  private lineQuietSince = -Infinity;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly timing = new SampleWindow();
  private readonly counters: Omit<RtuBusStats, 'id' | 'type' | 'baud' | 'perUnit' | 'replyTiming'> = {
    frames: 0,
    requests: 0,
    replies: 0,
    crcDropped: 0,
    silenceViolations: 0,
    exceptions: 0,
    broadcasts: 0,
    otherUnits: 0,
    injectedRequestCorruptions: 0,
    injectedReplyCorruptions: 0,
    busyWireMs: 0,
  };
  private readonly perUnit = new Map<number, UnitStats>();
  /** Bumped on reset(): replies scheduled before an unplug are not written after it. */
  private generation = 0;

  constructor(private readonly opts: RtuBusOptions) {
    this.id = opts.id;
    this.baud = opts.baud;
    for (const d of opts.devices) {
      this.byUnit.set(d.unitId, d);
      this.perUnit.set(d.unitId, { requests: 0, replies: 0, exceptions: 0, ignored: 0 });
    }
    // A partial frame is abandoned once the line has been quiet for t3.5 (at least 1 ms of timer).
    this.idleMs = Math.max(1, Math.ceil(silenceMs(opts.baud)));
  }

  get devices(): SimDevice[] {
    return [...this.byUnit.values()];
  }

  /** Bytes from the line; `at` is the monotonic time they arrived. */
  receive(chunk: Buffer, at: number, sink: FrameSink): void {
    if (this.buf.length === 0) {
      this.frameStart = at;
      this.frameSink = sink;
      this.buf = Buffer.from(chunk);
    } else {
      this.buf = Buffer.concat([this.buf, chunk]);
    }
    this.drain(at);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = this.buf.length > 0 ? setTimeout(this.onIdle, this.idleMs) : undefined;
  }

  /** The line went away (unplug, client gone): forget partial frames and pending replies. */
  reset(): void {
    this.generation++;
    this.buf = Buffer.alloc(0);
    this.frameSink = undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  stats(): RtuBusStats {
    const t = this.timing.summary();
    return {
      id: this.id,
      type: this.opts.type,
      baud: this.baud,
      ...this.counters,
      busyWireMs: Number(this.counters.busyWireMs.toFixed(3)),
      perUnit: Object.fromEntries([...this.perUnit].map(([u, s]) => [String(u), { ...s }])),
      replyTiming: { count: t.count, meanErrorMs: t.mean, p50ErrorMs: t.p50, p99ErrorMs: t.p99, maxErrorMs: t.max },
    };
  }

  private drain(at: number): void {
    while (this.buf.length > 0) {
      const scan = scanRtuRequest(this.buf);
      if (scan.kind === 'need-more' || scan.kind === 'unknown-length') return; // the idle timer decides
      if (scan.kind === 'garbage') {
        this.counters.frames++;
        this.counters.crcDropped++;
        this.counters.busyWireMs += wireTimeMs(this.buf.length, this.baud);
        this.lineQuietSince = Math.max(this.lineQuietSince, frameEndsAt(this.frameStart, this.buf.length, this.baud));
        this.buf = Buffer.alloc(0);
        return;
      }
      const frame = this.buf.subarray(0, scan.length);
      this.buf = this.buf.subarray(scan.length);
      this.handleFrame(Buffer.from(frame), this.frameStart, this.frameSink!);
      // Bytes right behind a frame in the same burst started with no silence at all.
      this.frameStart = at;
    }
  }

  private readonly onIdle = (): void => {
    this.idleTimer = undefined;
    if (this.buf.length === 0) return;
    const scan = scanRtuRequest(this.buf);
    const frame = this.buf;
    this.buf = Buffer.alloc(0);
    if (scan.kind === 'unknown-length') {
      // Unknown function code: the burst is the frame. A good CRC gets "illegal function".
      this.handleFrame(frame, this.frameStart, this.frameSink!);
      return;
    }
    // A truncated frame: a real slave sees a CRC error when the line goes quiet.
    this.counters.frames++;
    this.counters.crcDropped++;
    this.counters.busyWireMs += wireTimeMs(frame.length, this.baud);
    this.lineQuietSince = Math.max(this.lineQuietSince, frameEndsAt(this.frameStart, frame.length, this.baud));
  };

  private handleFrame(frame: Buffer, start: number, sink: FrameSink): void {
    const c = this.counters;
    c.frames++;
    c.busyWireMs += wireTimeMs(frame.length, this.baud);
    const tooSoon = breaksSilence(start, this.lineQuietSince, this.baud);
    this.lineQuietSince = Math.max(this.lineQuietSince, frameEndsAt(start, frame.length, this.baud));
    if (tooSoon) {
      c.silenceViolations++;
      return;
    }
    if (this.faults.crcRequestRate > 0 && this.opts.faultRng.chance(this.faults.crcRequestRate)) {
      corruptOneBit(frame, this.opts.faultRng);
      c.injectedRequestCorruptions++;
    }
    if (!hasValidCrc(frame)) {
      c.crcDropped++;
      return;
    }
    c.requests++;
    const unit = frame[0]!;
    const pdu = frame.subarray(1, frame.length - 2);
    const tsEpoch = monoToEpoch(start);
    if (unit === 0) {
      c.broadcasts++;
      for (const d of this.byUnit.values()) if (!d.faults.dead) executeBroadcast(d, pdu, tsEpoch);
      return;
    }
    const device = this.byUnit.get(unit);
    if (!device) {
      c.otherUnits++;
      return;
    }
    const us = this.perUnit.get(unit)!;
    us.requests++;
    if (device.faults.dead) {
      us.ignored++;
      return;
    }
    const answer = answerPdu(device, pdu, tsEpoch);
    if (answer.exception !== undefined) {
      c.exceptions++;
      us.exceptions++;
    }
    const reply = appendCrc(Buffer.concat([Buffer.from([unit]), answer.pdu]));
    if (this.faults.crcReplyRate > 0 && this.opts.faultRng.chance(this.faults.crcReplyRate)) {
      corruptOneBit(reply, this.opts.faultRng);
      c.injectedReplyCorruptions++;
    }
    const due = replyDueAt(start, frame.length, reply.length, this.baud, device.faults.slowMs);
    c.busyWireMs += wireTimeMs(reply.length, this.baud);
    this.lineQuietSince = Math.max(this.lineQuietSince, due);
    const generation = this.generation;
    this.opts.scheduler.at(due, () => {
      if (generation !== this.generation) return;
      const now = monoNow();
      if (!sink(reply)) return;
      this.timing.add(now - due);
      this.lineQuietSince = Math.max(this.lineQuietSince, now);
      c.replies++;
      us.replies++;
    });
  }
}

function corruptOneBit(buf: Buffer, rng: Rng): void {
  const i = rng.int(0, buf.length - 1);
  buf[i]! ^= 1 << rng.int(0, 7);
}
