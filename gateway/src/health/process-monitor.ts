/**
 * The process's own vital signs: resident memory, heap, and event-loop lag. A gateway whose
 * event loop lags polls late and answers alarms late, so the lag is worth a number of its own.
 * Lag figures cover the last completed period (`roll()` closes one), so that a spike shows for
 * a whole period instead of being averaged into the process's lifetime.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopLag {
  meanMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface ProcessVitals {
  pid: number;
  uptimeS: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  eventLoopLag: EventLoopLag;
}

const NS_PER_MS = 1e6;

export class ProcessMonitor {
  private histogram: IntervalHistogram | undefined;
  private last: EventLoopLag | undefined;

  /** @param resolutionMs sampling resolution of the event-loop delay monitor. */
  constructor(private readonly resolutionMs = 20) {}

  start(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
  }

  stop(): void {
    this.histogram?.disable();
    this.histogram = undefined;
  }

  /** Close the current lag period: its figures are reported until the next roll. (Node's monitor starts measuring again at its first firing after the reset.) */
  roll(): void {
    const h = this.histogram;
    if (!h || h.count === 0) return;
    this.last = lagOf(h, this.resolutionMs);
    h.reset();
  }

  read(): ProcessVitals {
    const mem = process.memoryUsage();
    const h = this.histogram;
    // Before the first roll, the period so far.
    const lag = this.last ?? (h && h.count > 0 ? lagOf(h, this.resolutionMs) : { meanMs: 0, p99Ms: 0, maxMs: 0 });
    return {
      pid: process.pid,
      uptimeS: process.uptime(),
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapTotalBytes: mem.heapTotal,
      eventLoopLag: lag,
    };
  }
}

function lagOf(h: IntervalHistogram, resolutionMs: number): EventLoopLag {
  // The monitor records the time between firings of a timer due every `resolution` ms: the lag is what is left above that.
  const lag = (ns: number) => Math.max(0, ns / NS_PER_MS - resolutionMs);
  return { meanMs: lag(h.mean), p99Ms: lag(h.percentile(99)), maxMs: lag(h.max) };
}
