/**
 * One device's observed availability over time (PURE: no clock, no I/O; times are passed in).
 *
 * The honest online rate needs three states, not two:
 *   - `online`   the gateway saw the device answer;
 *   - `offline`  the gateway declared it unreachable;
 *   - `unknown`  the gateway was watching but had no verdict yet (just after a start, or a device
 *                that never answered: an MQTT device that never connects stays here for ever).
 * Time the gateway was not watching at all (it was stopped, or before it ever ran) is not part
 * of the timeline. `unknown` time counts as observed and not online: a device earns online time
 * only by being seen.
 */

export type ObservedState = 'online' | 'offline' | 'unknown';

export interface OnlineTime {
  /** Time the device was seen online, ms. */
  onlineMs: number;
  /** Time the gateway was watching the device (online + offline + unknown), ms. */
  observedMs: number;
}

interface Segment {
  from: number;
  to: number;
  state: ObservedState;
}

export class AvailabilityTimeline {
  /** Closed segments, chronological, not overlapping. */
  private segments: Segment[] = [];
  /** The segment still running, while the gateway watches. */
  private open: { from: number; state: ObservedState } | undefined;

  /** Current state, or undefined while not watching. */
  get state(): ObservedState | undefined {
    return this.open?.state;
  }

  /** Since when the current state holds. */
  get since(): number | undefined {
    return this.open?.from;
  }

  get watching(): boolean {
    return this.open !== undefined;
  }

  /** Start watching at `at` (in `state`, `unknown` unless told). No-op while already watching. */
  observe(at: number, state: ObservedState = 'unknown'): void {
    if (this.open) return;
    const last = this.segments[this.segments.length - 1];
    // Never overlap what is already recorded (a clock step backwards, a seed that ran late).
    this.open = { from: last ? Math.max(at, last.to) : at, state };
  }

  /**
   * The gateway's verdict changed at `at`. Starts watching when not yet watching. A change dated
   * before the current segment began (clock skew between sources) is taken as happening now-ish:
   * at the current segment's start, so nothing already counted is rewritten.
   */
  set(state: ObservedState, at: number): void {
    if (!this.open) {
      this.observe(at, state);
      return;
    }
    if (state === this.open.state) return;
    const when = Math.max(at, this.open.from);
    if (when > this.open.from) this.segments.push({ from: this.open.from, to: when, state: this.open.state });
    this.open = { from: when, state };
  }

  /** Stop watching at `at` (gateway stopping, or the end of a past run). */
  stop(at: number): void {
    if (!this.open) return;
    const when = Math.max(at, this.open.from);
    if (when > this.open.from) this.segments.push({ from: this.open.from, to: when, state: this.open.state });
    this.open = undefined;
  }

  /** Online and observed time inside [from, to). The running segment counts up to `to`. */
  measure(from: number, to: number): OnlineTime {
    let onlineMs = 0;
    let observedMs = 0;
    const add = (a: number, b: number, state: ObservedState): void => {
      const lo = Math.max(a, from);
      const hi = Math.min(b, to);
      if (hi <= lo) return;
      observedMs += hi - lo;
      if (state === 'online') onlineMs += hi - lo;
    };
    for (const s of this.segments) {
      if (s.to <= from) continue;
      if (s.from >= to) break;
      add(s.from, s.to, s.state);
    }
    if (this.open) add(this.open.from, to, this.open.state);
    return { onlineMs, observedMs };
  }

  /** The state at instant `t`, or undefined when the gateway was not watching then. */
  stateAt(t: number): ObservedState | undefined {
    if (this.open && t >= this.open.from) return this.open.state;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i]!;
      if (t >= s.to) return undefined;
      if (t >= s.from) return s.state;
    }
    return undefined;
  }

  /** Forget everything before `before` (the longest window), so memory stays bounded. */
  prune(before: number): void {
    let drop = 0;
    while (drop < this.segments.length && this.segments[drop]!.to <= before) drop++;
    if (drop > 0) this.segments = this.segments.slice(drop);
    const first = this.segments[0];
    if (first && first.from < before) first.from = before;
  }

  /** Number of closed segments kept (for tests and memory checks). */
  get size(): number {
    return this.segments.length;
  }
}

/** Online time / observed time; 0 when nothing was observed (a device never seen is offline). */
export function onlineRatio(t: OnlineTime): number {
  return t.observedMs > 0 ? t.onlineMs / t.observedMs : 0;
}
