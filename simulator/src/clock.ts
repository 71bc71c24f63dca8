/**
 * Time for the simulator. Internally everything runs on the monotonic `performance.now()`;
 * timestamps handed to tests and the control API are epoch ms with sub-ms precision
 * (`performance.timeOrigin + performance.now()`), so a test can subtract a press time from the
 * time a coil write arrived and get a meaningful latency.
 */
import { performance } from 'node:perf_hooks';

/** Monotonic ms (process-relative). */
export function monoNow(): number {
  return performance.now();
}

/** Epoch ms with sub-ms precision. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Convert a monotonic timestamp to the epoch clock used in reports. */
export function monoToEpoch(mono: number): number {
  return performance.timeOrigin + mono;
}

/**
 * Runs callbacks at precise monotonic times. setTimeout alone is only good to ~1 ms (libuv
 * keeps a millisecond clock), which is a whole character time at 9600 baud. So: a coarse
 * timer brings us within SPIN_MARGIN_MS of the target, then a setImmediate loop polls
 * performance.now() until the target. setImmediate (not a busy while-loop) lets the event
 * loop keep reading the ports between polls, so arrivals are still timestamped while we wait;
 * between polls it naps (Atomics.wait, a fraction of a millisecond) so waiting costs little CPU.
 * One scheduler serves every bus, so several pending replies share one spin loop.
 */
/** What the buses need from a scheduler (unit tests pass a recording fake). */
export interface ReplyScheduler {
  at(at: number, fn: () => void): void;
}

export class PreciseScheduler implements ReplyScheduler {
  private readonly queue: Array<{ at: number; seq: number; fn: () => void }> = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private spinning = false;

  constructor(private readonly spinMarginMs = 2) {}

  /** Run `fn` at monotonic time `at` (immediately on the next turn if already past). */
  at(at: number, fn: () => void): void {
    const item = { at, seq: this.seq++, fn };
    // Sorted insert from the back: replies are mostly scheduled in time order.
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.at > at) i--;
    this.queue.splice(i, 0, item);
    this.arm();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Drop every pending callback (on stop). */
  clear(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(): void {
    if (this.spinning) return;
    const head = this.queue[0];
    if (!head) return;
    const wait = head.at - monoNow() - this.spinMarginMs;
    if (wait <= 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      this.spinning = true;
      setImmediate(this.spin);
      return;
    }
    if (this.timer && this.timerAt <= head.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = head.at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.arm();
    }, Math.floor(wait));
  }

  private readonly spin = (): void => {
    let now = monoNow();
    const head = this.queue[0];
    // Nap, don't burn: a short futex sleep (a fraction of a millisecond, precise to ~0.1 ms)
    // instead of spinning hot, then back to the event loop so arrivals on other buses are
    // still read and timestamped between naps.
    if (head && head.at - now > NAP_MS + NAP_SLACK_MS) {
      Atomics.wait(napCell, 0, 0, NAP_MS);
      now = monoNow();
    }
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const item = this.queue.shift()!;
      try {
        item.fn();
      } catch {
        // A failing callback must not stall the other buses' replies; callers log their own errors.
      }
    }
    this.spinning = false;
    this.arm();
  };
}

/** Nap length inside the spin window, ms: short enough not to delay other buses' I/O much. */
const NAP_MS = 0.25;
/** Futex sleeps overshoot (tens of µs idle, more on a busy machine): spin hot for the last half millisecond. */
const NAP_SLACK_MS = 0.5;
const napCell = new Int32Array(new SharedArrayBuffer(4));

/** Keeps the last N samples of a measurement and summarises them (mean, p50, p99, max). */
export class SampleWindow {
  private readonly buf: Float64Array;
  private n = 0;
  private total = 0;
  private sum = 0;

  constructor(size = 10_000) {
    this.buf = new Float64Array(size);
  }

  add(v: number): void {
    this.buf[this.n % this.buf.length] = v;
    this.n++;
    this.total++;
    this.sum += v;
  }

  summary(): { count: number; mean: number; p50: number; p99: number; max: number; min: number } {
    const len = Math.min(this.n, this.buf.length);
    if (len === 0) return { count: 0, mean: 0, p50: 0, p99: 0, max: 0, min: 0 };
    const s = Array.from(this.buf.subarray(0, len)).sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(len - 1, Math.floor(p * len))]!;
    let sum = 0;
    for (const v of s) sum += v;
    return { count: this.total, mean: sum / len, p50: q(0.5), p99: q(0.99), max: s[len - 1]!, min: s[0]! };
  }

  reset(): void {
    this.n = 0;
    this.total = 0;
    this.sum = 0;
  }
}
