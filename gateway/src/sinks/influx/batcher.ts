/**
 * Collects lines into batches that close on size or on age, whichever comes first (pure apart
 * from the injected timer, unit-tested with a fake clock).
 *
 * Each batch gets the next sequence number: the spool replays in that order, so a batch that
 * was in flight when the server went away is replayed before later ones.
 */
import type { SpoolClass } from '../../store/spool.js';

export interface Batch {
  seq: number;
  lines: string[];
  classes: SpoolClass[];
  /** When the first line entered the batch (ms). */
  queuedAt: number;
}

export interface BatchTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: BatchTimers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Batching must not keep a stopping process alive; stop() flushes explicitly.
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatcherOptions {
  size: number;
  intervalMs: number;
  /** Called synchronously with every closed batch. */
  onBatch: (batch: Batch) => void;
  now: () => number;
  /** First sequence number to hand out. */
  firstSeq: number;
  timers?: BatchTimers;
}

export class LineBatcher {
  private lines: string[] = [];
  private classes: SpoolClass[] = [];
  private queuedAt = 0;
  private timer: unknown;
  private nextSeq: number;
  private readonly timers: BatchTimers;

  constructor(private readonly options: BatcherOptions) {
    this.nextSeq = options.firstSeq;
    this.timers = options.timers ?? realTimers;
  }

  add(line: string, cls: SpoolClass): void {
    if (this.lines.length === 0) {
      this.queuedAt = this.options.now();
      this.timer = this.timers.set(() => {
        this.timer = undefined;
        this.close();
      }, this.options.intervalMs);
    }
    this.lines.push(line);
    this.classes.push(cls);
    if (this.lines.length >= this.options.size) this.close();
  }

  /** Close the open batch now (no-op when empty). */
  close(): void {
    if (this.timer !== undefined) {
      this.timers.clear(this.timer);
      this.timer = undefined;
    }
    if (this.lines.length === 0) return;
    const batch: Batch = { seq: this.nextSeq++, lines: this.lines, classes: this.classes, queuedAt: this.queuedAt };
    this.lines = [];
    this.classes = [];
    this.options.onBatch(batch);
  }

  /** Lines in the open batch. */
  get pending(): number {
    return this.lines.length;
  }

  /** queuedAt of the open batch, if it has lines. */
  get oldestQueuedAt(): number | undefined {
    return this.lines.length > 0 ? this.queuedAt : undefined;
  }
}
