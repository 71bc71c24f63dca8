/**
 * Online/offline tracking of every configured device, fed by the bus's `status` events and
 * seeded at start from the store's status history and the observation log (history-seed.ts).
 * Answers "how much of the last <window> was each device online?" honestly: see
 * availability-timeline.ts for what counts as observed.
 */
import type { EventBus } from '../core/event-bus.js';
import type { DeviceStatus } from '../core/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { StatusQuery } from '../store/store.js';
import type { AvailabilityTimeline, ObservedState, OnlineTime } from './availability-timeline.js';
import { seedTimelines } from './history-seed.js';
import type { ObservationLog, ObservationSpan } from './observation-log.js';

/** The store query the tracker needs (Store.statusHistory). */
export type StatusHistorySource = (q: StatusQuery) => DeviceStatus[];

/** Status records per device the store hands out per query (store.ts MAX_LIMIT). */
const HISTORY_PAGE = 10_000;

export interface AvailabilityTrackerOptions {
  devices: readonly string[];
  bus: EventBus;
  /** Longest window asked for: history older than this is neither loaded nor kept. */
  horizonMs: number;
  now: () => number;
  log: Logger;
  statusHistory?: StatusHistorySource;
  observationLog?: ObservationLog;
  /** When this run began watching (default: start()). Pass the gateway's start time when the tracker starts after the pollers. */
  observingSince?: number;
  /** When this process started (default performance.timeOrigin): the boundary between earlier runs' records and ours. */
  processStart?: number;
}

export interface DeviceAvailability {
  state: ObservedState;
  since: number;
}

export class AvailabilityTracker {
  private timelines = new Map<string, AvailabilityTimeline>();
  private pastSpans: ObservationSpan[] = [];
  private liveFrom = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly onStatus = (s: DeviceStatus): void => {
    this.timelines.get(s.device)?.set(s.availability, s.since);
  };

  constructor(private readonly opts: AvailabilityTrackerOptions) {}

  get running(): boolean {
    return this.unsubscribe !== undefined;
  }

  start(): void {
    if (this.unsubscribe) return;
    const now = this.opts.now();
    this.liveFrom = Math.min(this.opts.observingSince ?? now, now);
    this.pastSpans = this.opts.observationLog?.load().filter((s) => s.to > now - this.opts.horizonMs) ?? [];
    // The store query is synchronous and the bus too: no change can slip between the read and the subscription.
    this.timelines = seedTimelines({
      devices: this.opts.devices,
      spans: this.pastSpans,
      records: this.loadHistory(now),
      runStart: this.opts.processStart ?? Math.round(performance.timeOrigin),
      observingSince: this.liveFrom,
      now,
    });
    this.unsubscribe = this.opts.bus.on('status', this.onStatus);
    this.persist(now);
  }

  /** Stop listening; the live span ends now and is written to the observation log. */
  stop(): void {
    if (!this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
    const now = this.opts.now();
    this.persist(now);
    for (const tl of this.timelines.values()) tl.stop(now);
  }

  /** Periodic upkeep: forget what is older than the horizon and record that we are still watching. */
  heartbeat(): void {
    if (!this.unsubscribe) return;
    const now = this.opts.now();
    const horizon = now - this.opts.horizonMs;
    for (const tl of this.timelines.values()) tl.prune(horizon);
    this.pastSpans = this.pastSpans.filter((s) => s.to > horizon);
    this.persist(now);
  }

  /** Online and observed time of every device over the last `windowMs`. */
  onlineTimes(windowMs: number): Map<string, OnlineTime> {
    const now = this.opts.now();
    const out = new Map<string, OnlineTime>();
    for (const [id, tl] of this.timelines) out.set(id, tl.measure(now - windowMs, now));
    return out;
  }

  /** Current verdict per device (`unknown` until the poller has one). */
  current(device: string): DeviceAvailability | undefined {
    const tl = this.timelines.get(device);
    if (tl?.state === undefined || tl.since === undefined) return undefined;
    return { state: tl.state, since: tl.since };
  }

  private loadHistory(now: number): DeviceStatus[] {
    const source = this.opts.statusHistory;
    if (!source) return [];
    // Far enough back for every span still inside the horizon (they start at most one horizon before their end).
    const since = Math.min(now - this.opts.horizonMs, ...this.pastSpans.map((s) => s.from));
    const records: DeviceStatus[] = [];
    for (const device of this.opts.devices) {
      try {
        const page = source({ device, since, limit: HISTORY_PAGE });
        if (page.length >= HISTORY_PAGE) this.opts.log.warn({ device, records: page.length }, 'status history longer than one page; older changes of this device are ignored');
        records.push(...page);
      } catch (err) {
        this.opts.log.warn({ device, err: errorMessage(err) }, 'cannot read status history; online rate of this device starts from now');
      }
    }
    // Newest first, as one store query would return them (history-seed.ts expects that order).
    return records.sort((a, b) => b.since - a.since);
  }

  /** Write the earlier runs' spans plus ours, ours rebased to the horizon with each device's state there. */
  private persist(now: number): void {
    const log = this.opts.observationLog;
    if (!log) return;
    const from = Math.max(this.liveFrom, now - this.opts.horizonMs);
    const devices: Record<string, ObservedState> = {};
    for (const [id, tl] of this.timelines) devices[id] = tl.stateAt(from) ?? 'unknown';
    log.save([...this.pastSpans, { from, to: now, devices }]);
  }
}
