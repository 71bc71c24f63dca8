/**
 * Cuts a TCP byte stream into DC-09 frames (LF … CR). Pure and synchronous.
 *
 * Garbage is tolerated: bytes before an LF are dropped, an LF that is followed by another LF
 * before any CR restarts the frame there (the earlier bytes were noise), and a frame that grows
 * past `maxFrameBytes` without a CR is dropped so a peer cannot make us buffer without bound.
 * Whether what it returns is a valid frame is parseFrame's business.
 */
import { MAX_FRAME_BYTES } from './frame.js';

const LF = 0x0a;
const CR = 0x0d;

export class Dc09StreamSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private dropped = 0;
  private readonly maxFrameBytes: number;

  constructor(opts: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Bytes thrown away as garbage so far. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): Buffer[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const start = this.buf.indexOf(LF);
      if (start < 0) {
        this.drop(this.buf.length);
        break;
      }
      if (start > 0) this.drop(start);
      // Search for the end of this frame, restarting at any later LF.
      let end = -1;
      let restart = -1;
      const limit = Math.min(this.buf.length, this.maxFrameBytes);
      for (let i = 1; i < limit; i++) {
        const b = this.buf[i];
        if (b === CR) {
          end = i;
          break;
        }
        if (b === LF) {
          restart = i;
          break;
        }
      }
      if (restart > 0) {
        this.drop(restart);
        continue;
      }
      if (end > 0) {
        frames.push(Buffer.from(this.buf.subarray(0, end + 1)));
        this.buf = this.buf.subarray(end + 1);
        continue;
      }
      if (this.buf.length >= this.maxFrameBytes) {
        // Too long to be a frame: skip this LF and look for the next one.
        this.drop(1);
        continue;
      }
      break;
    }
    return frames;
  }

  /** Discards a partial frame (e.g. when the connection closes). */
  reset(): void {
    this.drop(this.buf.length);
  }

  private drop(n: number): void {
    this.dropped += n;
    this.buf = this.buf.subarray(n);
  }
}
