/**
 * Raw-serial lock boards (e.g. `wkly-lock-board`: `57 4B 4C 59 | len | addr | cmd | data | XOR`)
 * on their own serial line. Everything about the frames comes from the profile's `serial` block;
 * framing is the gateway's own `protocol/raw-frame.ts`, so both ends parse alike.
 *
 * The board answers polled requests (status: lock and door bitmaps) with the data bytes of the
 * frame points, executes command frames (open_lock), and pushes a frame on its own whenever a
 * door changes, as these boards do.
 */
import type { Logger } from '../../gateway/src/log.js';
import { encodeFrame, FrameParser, type ParsedFrame } from '../../gateway/src/protocol/raw-frame.js';
import { silenceMs, wireTimeMs } from '../../gateway/src/protocol/wire-timing.js';
import type { PointValue } from '../../gateway/src/core/types.js';
import { isFramePoint, type SerialDef } from '../../gateway/src/profiles/schema.js';
import { monoNow, monoToEpoch, SampleWindow, type ReplyScheduler } from './clock.js';
import type { SimDevice } from './device-model.js';
import type { FrameSink, TimingSummary } from './rtu-bus.js';
import { replyDueAt } from './rtu-timing.js';
import { lockBoardSize } from './behaviours.js';

export interface LockBoardStats {
  id: string;
  type: 'raw-serial';
  baud: number;
  requests: number;
  replies: number;
  commands: number;
  pushes: number;
  badChecksums: number;
  /** Valid frames for an address no board on this line has, or a command the profile does not know. */
  ignored: number;
  replyTiming: TimingSummary;
}

export interface LockBoardLineOptions {
  id: string;
  baud: number;
  devices: readonly SimDevice[];
  scheduler: ReplyScheduler;
  log: Logger;
  /** Writes a push frame to the line (false while unplugged). */
  push: (frame: Buffer) => boolean;
}

export class LockBoardLine {
  readonly id: string;
  private readonly byAddress = new Map<number, SimDevice>();
  private readonly lastDoors = new Map<string, Record<string, boolean>>();
  private parser: FrameParser | undefined;
  private serial: SerialDef | undefined;
  private frameStart = 0;
  private pending = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly timing = new SampleWindow();
  private readonly counters = { requests: 0, replies: 0, commands: 0, pushes: 0, ignored: 0 };
  private readonly unsubscribe: Array<() => void> = [];
  private lineQuietSince = -Infinity;
  private generation = 0;

  constructor(private readonly opts: LockBoardLineOptions) {
    this.id = opts.id;
    for (const d of opts.devices) {
      this.byAddress.set(d.unitId, d);
      const serial = d.profile.serial;
      if (!serial) continue;
      // One line, one framing: boards on a line speak the same protocol.
      if (!this.serial) {
        this.serial = serial;
        this.parser = new FrameParser(serial.framing);
      }
      const doors = d.get('doors');
      if (doors && typeof doors === 'object') this.lastDoors.set(d.id, { ...(doors as Record<string, boolean>) });
      this.unsubscribe.push(d.onChange((point, value) => this.onPointChange(d, point, value)));
    }
  }

  receive(chunk: Buffer, at: number, sink: FrameSink): void {
    if (!this.parser) return;
    if (this.parser.pending === 0) this.frameStart = at;
    for (const frame of this.parser.push(chunk)) this.handle(frame, this.frameStart, sink);
    if (this.parser.pending === 0) this.frameStart = at;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.parser.pending > 0)
      this.idleTimer = setTimeout(() => {
        for (const frame of this.parser?.flush() ?? []) this.handle(frame, this.frameStart, sink);
      }, Math.max(2, Math.ceil(silenceMs(this.opts.baud) * 2)));
  }

  reset(): void {
    this.generation++;
    this.parser?.reset();
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  stop(): void {
    this.reset();
    for (const u of this.unsubscribe) u();
  }

  stats(): LockBoardStats {
    const t = this.timing.summary();
    return {
      id: this.id,
      type: 'raw-serial',
      baud: this.opts.baud,
      ...this.counters,
      badChecksums: this.parser?.stats.badChecksums ?? 0,
      replyTiming: { count: t.count, meanErrorMs: t.mean, p50ErrorMs: t.p50, p99ErrorMs: t.p99, maxErrorMs: t.max },
    };
  }

  private handle(frame: ParsedFrame, start: number, sink: FrameSink): void {
    const serial = this.serial!;
    this.lineQuietSince = Math.max(this.lineQuietSince, start + wireTimeMs(frame.raw.length, this.opts.baud));
    const d = this.byAddress.get(frame.address);
    if (!d || d.faults.dead) {
      this.counters.ignored++;
      return;
    }
    const request = serial.requests.find((r) => r.command === frame.command);
    if (request) {
      this.counters.requests++;
      const data = d.frames.get(request.id) ?? Buffer.alloc(0);
      this.reply(d, encodeFrame(serial.framing, d.unitId, request.reply ?? request.command, data), start, frame.raw.length, sink);
      return;
    }
    const command = serial.commands.find((c) => c.command === frame.command);
    if (command) {
      this.counters.commands++;
      d.recordFrameCommand(command.id, frame.command, [...frame.data], monoToEpoch(start));
      // Boards acknowledge a command by echoing its data and a status byte: 0 ok, 1 failed
      // (a channel the board does not have).
      const channel = frame.data[0] ?? 0;
      const ok = channel >= 1 && channel <= Math.max(1, lockBoardSize(d));
      const ack = Buffer.concat([frame.data, Buffer.from([ok ? 0 : 1])]);
      this.reply(d, encodeFrame(serial.framing, d.unitId, command.reply ?? command.command, ack), start, frame.raw.length, sink);
      return;
    }
    this.counters.ignored++;
  }

  private reply(d: SimDevice, out: Buffer, start: number, requestBytes: number, sink: FrameSink): void {
    const due = replyDueAt(start, requestBytes, out.length, this.opts.baud, d.faults.slowMs);
    this.lineQuietSince = Math.max(this.lineQuietSince, due);
    const generation = this.generation;
    this.pending++;
    this.opts.scheduler.at(due, () => {
      this.pending--;
      if (generation !== this.generation) return;
      const now = monoNow();
      if (!sink(out)) return;
      this.timing.add(now - due);
      this.counters.replies++;
    });
  }

  /**
   * A door changed on a board: one push per changed door, as these boards report each door on
   * its own. The push frame's points are filled by type: the enum/number point gets the door
   * number (1-based), a bool point the new state, a bitfield the whole door map.
   */
  private onPointChange(d: SimDevice, point: string, value: PointValue): void {
    const serial = d.profile.serial;
    if (!serial || point !== 'doors' || typeof value !== 'object' || value === null) return;
    const doorsDef = d.pointDef('doors');
    const before = this.lastDoors.get(d.id) ?? {};
    const now = value as Record<string, boolean>;
    this.lastDoors.set(d.id, { ...now });
    if (d.faults.dead) return;
    const changed = Object.entries(doorsDef?.bits ?? {})
      .filter(([, name]) => (before[name] ?? false) !== (now[name] ?? false))
      .map(([bit, name]) => ({ door: Number(bit) + 1, open: now[name] === true }));
    for (const push of serial.pushes) {
      const pushPoints = d.profile.points.filter((p) => isFramePoint(p) && p.frame === push.id);
      if (pushPoints.length === 0) continue;
      for (const { door, open } of changed) {
        for (const p of pushPoints) {
          if (p.type === 'bool') d.set(p.id, open);
          else if (p.type === 'bitfield') d.set(p.id, remapFlags(doorsDef?.bits ?? {}, p.bits ?? {}, now));
          else if (p.type !== 'string') d.set(p.id, door);
        }
        this.sendPush(encodeFrame(serial.framing, d.unitId, push.command, d.frames.get(push.id) ?? Buffer.alloc(0)));
      }
    }
  }

  /** Push when the line is quiet (never on top of a reply being sent). */
  private sendPush(frame: Buffer): void {
    const at = Math.max(monoNow(), this.lineQuietSince + silenceMs(this.opts.baud)) + wireTimeMs(frame.length, this.opts.baud);
    this.lineQuietSince = at;
    this.opts.scheduler.at(at, () => {
      if (this.opts.push(frame)) this.counters.pushes++;
    });
  }
}

/** Carry flags between two bitfields by bit position (their names may differ). */
function remapFlags(from: Record<string, string>, to: Record<string, string>, flags: Record<string, boolean>): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [bit, name] of Object.entries(to)) {
    const src = from[bit];
    out[name] = src !== undefined && flags[src] === true;
  }
  return out;
}
