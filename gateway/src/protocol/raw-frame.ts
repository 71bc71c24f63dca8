/**
 * Raw-serial framing (pure): encode frames and parse a byte stream into frames for devices that
 * speak their own protocol, e.g. the RS485 lock-control board
 * `57 4B 4C 59 | len | addr | cmd | data | XOR`. The layout comes from a profile's `FramingDef`,
 * so a new board needs a profile, not code.
 *
 * Layout: the header at offset 0; the length, address and command bytes at their offsets
 * (between the header and the data); the data from `dataOffset`; the checksum last (1 byte for
 * xor/sum8, 2 bytes low-first for crc16-modbus), covering `checksum.from` up to the byte before it.
 */
import type { FramingDef } from '../profiles/schema.js';
import { crc16Modbus } from './crc16.js';

/** Same shape as `RawFrame` in transport/types.ts (kept here so protocol/ depends on nothing above it). */
export interface ParsedFrame {
  address: number;
  command: number;
  data: Buffer;
  raw: Buffer;
}

export type ChecksumType = FramingDef['checksum']['type'];

export function checksumSize(type: ChecksumType): number {
  return type === 'crc16-modbus' ? 2 : 1;
}

/** Checksum of `buf[from, to)`. */
export function computeChecksum(type: ChecksumType, buf: Uint8Array, from: number, to: number): number {
  switch (type) {
    case 'xor': {
      let x = 0;
      for (let i = from; i < to; i++) x ^= buf[i]!;
      return x;
    }
    case 'sum8': {
      let s = 0;
      for (let i = from; i < to; i++) s = (s + buf[i]!) & 0xff;
      return s;
    }
    case 'crc16-modbus':
      return crc16Modbus(buf, from, to);
  }
}

function checksumMatches(framing: FramingDef, frame: Uint8Array): boolean {
  const size = checksumSize(framing.checksum.type);
  const end = frame.length - size;
  const sum = computeChecksum(framing.checksum.type, frame, framing.checksum.from, end);
  return size === 1 ? frame[end] === sum : frame[end] === (sum & 0xff) && frame[end + 1] === sum >>> 8;
}

/**
 * Why a framing definition cannot work, or undefined when it can. Zod checks each field; this
 * checks that they fit together (the profile registry can call it to name the profile file).
 */
export function framingProblem(framing: FramingDef): string | undefined {
  const h = framing.header.length;
  const fields: Array<[string, number]> = [
    ['length.offset', framing.length.offset],
    ['addressOffset', framing.addressOffset],
    ['commandOffset', framing.commandOffset],
  ];
  for (const [name, off] of fields) {
    if (off < h) return `${name} ${off} lies inside the ${h}-byte header`;
    if (off >= framing.dataOffset) return `${name} ${off} must come before dataOffset ${framing.dataOffset}`;
  }
  const offsets = fields.map(([, o]) => o);
  if (new Set(offsets).size !== offsets.length) return 'length, address and command offsets must differ';
  if (framing.checksum.from > framing.dataOffset) return `checksum.from ${framing.checksum.from} lies past dataOffset ${framing.dataOffset}`;
  if (framing.length.counts === 'frame' && framing.dataOffset + checksumSize(framing.checksum.type) > 255) {
    return 'a frame-counting length byte cannot describe frames longer than 255 bytes';
  }
  return undefined;
}

function assertFraming(framing: FramingDef): void {
  const problem = framingProblem(framing);
  if (problem) throw new RangeError(`invalid framing: ${problem}`);
}

/** Smallest frame: no data bytes. */
function minFrameLength(framing: FramingDef): number {
  return framing.dataOffset + checksumSize(framing.checksum.type);
}

/** Total frame length announced by a length byte, or undefined when it cannot be a frame. */
function frameLengthFromByte(framing: FramingDef, lengthByte: number): number | undefined {
  const total = framing.length.counts === 'frame' ? lengthByte : minFrameLength(framing) + lengthByte;
  return total >= minFrameLength(framing) ? total : undefined;
}

export function encodeFrame(framing: FramingDef, address: number, command: number, data: readonly number[] | Uint8Array): Buffer {
  assertFraming(framing);
  const cs = checksumSize(framing.checksum.type);
  const total = framing.dataOffset + data.length + cs;
  const lengthByte = framing.length.counts === 'frame' ? total : data.length;
  if (lengthByte > 255) throw new RangeError(`frame too long for a one-byte length (${lengthByte})`);
  for (const [name, v] of [['address', address], ['command', command]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${name} ${v} is not a byte`);
  }
  const out = Buffer.alloc(total);
  out.set(framing.header, 0);
  out[framing.length.offset] = lengthByte;
  out[framing.addressOffset] = address;
  out[framing.commandOffset] = command;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`data[${i}] ${b} is not a byte`);
    out[framing.dataOffset + i] = b;
  }
  const sum = computeChecksum(framing.checksum.type, out, framing.checksum.from, total - cs);
  if (cs === 1) out[total - 1] = sum;
  else {
    out[total - 2] = sum & 0xff;
    out[total - 1] = sum >>> 8;
  }
  return out;
}

export interface FrameParserStats {
  /** Valid frames yielded. */
  frames: number;
  /** Header and length looked right but the checksum did not match. */
  badChecksums: number;
  /** Header found but the length byte announced an impossible frame. */
  badLengths: number;
  /** Bytes dropped while searching for a header (garbage, or the first byte of a bad frame). */
  skippedBytes: number;
  /** Partial frames dropped by `flush()` (the line went quiet before they were complete). */
  stalled: number;
}

/**
 * Streaming parser: push arbitrary chunks, get whole valid frames back. On a bad checksum or an
 * impossible length it drops one byte and searches again, so a real frame that starts inside
 * the bad one is still found.
 */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private readonly counters: FrameParserStats = { frames: 0, badChecksums: 0, badLengths: 0, skippedBytes: 0, stalled: 0 };
  private readonly header: Buffer;

  constructor(private readonly framing: FramingDef) {
    assertFraming(framing);
    this.header = Buffer.from(framing.header);
  }

  /** Bytes held while waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  get stats(): Readonly<FrameParserStats> {
    return this.counters;
  }

  push(chunk: Uint8Array): ParsedFrame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    return this.drain();
  }

  /**
   * Give up on a partial frame (call it when the line has gone quiet): drop its first byte and
   * search the rest again. Returns frames found behind it.
   */
  flush(): ParsedFrame[] {
    if (this.buf.length === 0) return [];
    this.counters.stalled++;
    this.skip(1);
    const frames = this.drain();
    return frames;
  }

  /** Forget everything buffered (e.g. after the port was reopened). */
  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  private skip(n: number): void {
    this.counters.skippedBytes += n;
    this.buf = this.buf.subarray(n);
  }

  private drain(): ParsedFrame[] {
    const frames: ParsedFrame[] = [];
    const f = this.framing;
    for (;;) {
      const start = this.buf.indexOf(this.header);
      if (start < 0) {
        // Keep a tail that may be the beginning of a header split across chunks.
        this.skip(this.buf.length - this.headerPrefixTail());
        break;
      }
      if (start > 0) this.skip(start);
      if (this.buf.length <= f.length.offset) break;
      const total = frameLengthFromByte(f, this.buf[f.length.offset]!);
      if (total === undefined) {
        this.counters.badLengths++;
        this.skip(1);
        continue;
      }
      if (this.buf.length < total) break;
      const raw = Buffer.from(this.buf.subarray(0, total));
      if (!checksumMatches(f, raw)) {
        this.counters.badChecksums++;
        this.skip(1);
        continue;
      }
      this.buf = this.buf.subarray(total);
      this.counters.frames++;
      frames.push({
        address: raw[f.addressOffset]!,
        command: raw[f.commandOffset]!,
        data: raw.subarray(f.dataOffset, total - checksumSize(f.checksum.type)),
        raw,
      });
    }
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    return frames;
  }

  /** Length of the longest suffix of the buffer that is a proper prefix of the header. */
  private headerPrefixTail(): number {
    const max = Math.min(this.header.length - 1, this.buf.length);
    for (let n = max; n > 0; n--) {
      if (this.buf.subarray(this.buf.length - n).equals(this.header.subarray(0, n))) return n;
    }
    return 0;
  }
}
