/**
 * The device runtime: where decoded values become state, events and alarms. Pollers and the
 * MQTT device intake hand it value batches; it runs the profile's rules FIRST (so an alarm is
 * stored, fsync'd, before any point that caused it is published), then applies report by
 * exception and publishes the changed points on the bus. It also owns the two clocks the pure
 * modules need: rule ticks (holds, debounce) and stale sweeps.
 */
import type { DeviceConfig, PollingConfig } from '../config/schema.js';
import type { EventBus } from '../core/event-bus.js';
import type { LastValueState, StatePointSpec } from '../core/state.js';
import type { DeviceEvent, DeviceStatus, Point } from '../core/types.js';
import type { AlarmService } from '../alarms/alarm-service.js';
import { ulidFactory } from '../alarms/ulid.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ValuesBatch } from '../polling/types.js';
import { statePointSpecs } from '../polling/planner.js';
import { createRuleEngine } from '../profiles/rules.js';
import type { RuleEngine, RuleFiring } from '../profiles/rules-types.js';
import type { Profile } from '../profiles/schema.js';
import type { Store } from '../store/store.js';

export interface RuntimeDevice {
  config: DeviceConfig;
  profile: Profile;
  /** The polling config of the device's bus (intervals give stale ages); MQTT devices use the defaults. */
  polling: PollingConfig;
}

export interface DeviceRuntimeOptions {
  site: string;
  devices: readonly RuntimeDevice[];
  state: LastValueState;
  bus: EventBus;
  alarms: AlarmService;
  store: Store;
  log: Logger;
  clock?: () => number;
  /** How often rule holds/debounce and staleness are checked, ms. */
  tickMs?: number;
  /** Applied to every device event before it is stored or emitted (privacy: card numbers become hashes). */
  redactEvent?: (event: DeviceEvent) => DeviceEvent;
}

/** The usual read has no bad points: one options object for all of them. */
const NO_APPLY_OPTIONS = Object.freeze({});

interface Entry {
  device: RuntimeDevice;
  rules: RuleEngine;
  online: boolean;
}

export class DeviceRuntime {
  private readonly entries = new Map<string, Entry>();
  private readonly entryList: Entry[] = [];
  private readonly opts: DeviceRuntimeOptions;
  private readonly clock: () => number;
  private readonly newId = ulidFactory();
  private timer: NodeJS.Timeout | undefined;
  private lastStaleSweep = 0;

  constructor(options: DeviceRuntimeOptions) {
    this.opts = options;
    this.clock = options.clock ?? Date.now;
    for (const d of options.devices) {
      const entry: Entry = { device: d, rules: createRuleEngine(d.profile), online: false };
      this.entries.set(d.config.id, entry);
      this.entryList.push(entry);
      options.state.defineDevice(d.config.id, this.specsOf(d));
    }
  }

  /** State specs per profile and poll intervals (what they depend on), shared by the devices without poll overrides. */
  private readonly specsCache = new Map<Profile, Map<string, readonly StatePointSpec[]>>();

  private specsOf(d: RuntimeDevice): readonly StatePointSpec[] {
    if (d.config.poll !== undefined && Object.keys(d.config.poll).length > 0) return statePointSpecs(d.config, d.profile, d.polling);
    let byPolling = this.specsCache.get(d.profile);
    if (!byPolling) {
      byPolling = new Map();
      this.specsCache.set(d.profile, byPolling);
    }
    const key = JSON.stringify(d.polling.intervals);
    let specs = byPolling.get(key);
    if (!specs) {
      specs = statePointSpecs(d.config, d.profile, d.polling);
      byPolling.set(key, specs);
    }
    return specs;
  }

  start(): void {
    const tickMs = this.opts.tickMs ?? 100;
    this.timer = setInterval(() => this.tick(this.clock()), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A read (or push, or MQTT uplink) produced values. */
  ingest(batch: ValuesBatch): void {
    const entry = this.entries.get(batch.device);
    if (!entry) {
      this.opts.log.warn({ device: batch.device }, 'values for an unknown device dropped');
      return;
    }
    // The same registers as last time (most reads): the rules would see the same values, the
    // state nothing to publish; only freshness is noted, and rule deadlines kept as tick() does.
    if (batch.unchanged && this.opts.state.refresh(batch.device, batch.values, batch.ts)) {
      const due = entry.rules.nextDeadline();
      if (due !== undefined && due <= batch.ts) this.handleFirings(entry, entry.rules.tick(batch.ts));
      return;
    }
    // Rules first: alarms are persisted before the points that caused them are published.
    this.handleFirings(entry, entry.rules.update(batch.values, batch.ts));
    const changed = this.opts.state.apply(batch.device, batch.values, batch.ts, batch.bad ? { bad: batch.bad } : NO_APPLY_OPTIONS);
    this.publish(batch.device, changed);
  }

  /** A poller reported a device going online or offline. */
  status(status: DeviceStatus): void {
    const entry = this.entries.get(status.device);
    if (entry) entry.online = status.availability === 'online';
    if (status.availability === 'offline') {
      // Values already published turn stale; rules forget them so no edge fires from old data on return.
      entry?.rules.reset();
      this.publish(status.device, this.opts.state.markDeviceOffline(status.device, status.since));
    }
    try {
      this.opts.store.appendStatus(status);
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err), device: status.device }, 'could not record device status');
    }
    this.opts.bus.emit('status', status);
  }

  /** Timers of the pure modules: rule holds and debounce, and stale points. */
  tick(now: number): void {
    // Ten times a second over every device: an array walk (a Map iterator allocates per step).
    for (let i = 0; i < this.entryList.length; i++) {
      const entry = this.entryList[i]!;
      const due = entry.rules.nextDeadline();
      if (due !== undefined && due <= now) this.handleFirings(entry, entry.rules.tick(now));
    }
    if (now - this.lastStaleSweep >= 1000) {
      this.lastStaleSweep = now;
      const stale = this.opts.state.sweepStale(now);
      const byDevice = new Map<string, Point[]>();
      for (const p of stale) {
        const list = byDevice.get(p.device);
        if (list) list.push(p);
        else byDevice.set(p.device, [p]);
      }
      for (const [device, points] of byDevice) this.publish(device, points);
    }
  }

  private publish(device: string, points: readonly Point[]): void {
    if (points.length > 0) this.opts.bus.emit('points', { device, points });
  }

  private handleFirings(entry: Entry, firings: readonly RuleFiring[]): void {
    // Nearly every read fires nothing (a shared empty list): no loop, no iterator.
    if (firings.length === 0) return;
    const { config, profile } = entry.device;
    for (const firing of firings) {
      try {
        if (firing.alarm ?? firing.def.alarm) {
          this.opts.alarms.handleFiring(firing, { id: config.id, profile: profile.id, location: config.location });
          continue;
        }
        if (firing.phase !== 'start') continue;
        const raw: DeviceEvent = {
          id: this.newId(),
          site: this.opts.site,
          device: config.id,
          profile: profile.id,
          event: firing.def.id,
          kind: firing.def.kind,
          ts: firing.ts,
          fields: firing.fields,
          location: config.location,
        };
        const event = this.opts.redactEvent ? this.opts.redactEvent(raw) : raw;
        this.opts.store.appendEvent(event);
        this.opts.bus.emit('event', event);
      } catch (err) {
        // A store failure must be loud, but one bad firing must not stop the others.
        this.opts.log.error({ err: errorMessage(err), device: config.id, rule: firing.def.id }, 'rule firing could not be handled');
      }
    }
  }
}
