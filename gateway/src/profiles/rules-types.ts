/**
 * What the pure rules engine (rules.ts) consumes and produces. The device runtime feeds it
 * decoded values; it returns events and alarm starts/clears. It never does I/O and keeps its
 * own per-device memory (edges, debounce, hold timers) inside the engine instance.
 */
import type { PointValue } from '../core/types.js';
import type { AlarmDef, EventDef } from './schema.js';

export interface RuleFiring {
  /** The profile event definition that fired. */
  def: EventDef;
  /** `start` when the condition becomes true; `clear` when it stops (for alarms with restore/latch bookkeeping). */
  phase: 'start' | 'clear';
  ts: number;
  /** Snapshot of `def.fields` at firing time. */
  fields: Record<string, PointValue>;
  alarm?: AlarmDef;
}

export interface RuleEngine {
  /**
   * Feed a new set of values (only the points that were read; others keep their last value).
   * Returns the firings caused by this update, in profile order.
   */
  update(values: Readonly<Record<string, PointValue>>, ts: number): RuleFiring[];
  /** Advance time without new values: fires `for:` holds and settles `debounce`. Call at least every 100 ms or when nextDeadline() passes. */
  tick(ts: number): RuleFiring[];
  /** Earliest time a pending hold or debounce needs a tick(), or undefined. */
  nextDeadline(): number | undefined;
  /** Forget values (device went offline): edges are not fired from stale values on return. */
  reset(): void;
}
