/**
 * The alarm path's composition: builds one forwarder per configured path, the outbox hook the
 * AlarmService queues through, and the dispatcher; reports path supervision on the event bus
 * (and from there on MQTT); takes operator acknowledgements from any back channel.
 *
 * Two-step start because the AlarmService needs the outbox hook at construction and the
 * dispatcher needs the AlarmService: construct this first, then `start(alarms)`.
 */
import type { EventBus } from '../core/event-bus.js';
import type { Alarm, PathHealth } from '../core/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxRow } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { AlarmOutboxHook, AlarmService } from './alarm-service.js';
import { OutboxDispatcher, type DispatcherStats } from './dispatcher.js';
import type { ForwardingConfig } from './forwarding-config.js';
import { createForwarder } from './forwarders/registry.js';
import type { Forwarder, OperatorAck } from './forwarders/types.js';
import type { OperatorAckMessage } from './operator-ack.js';
import { outboxEntriesFor, type RoutedDevice } from './routes.js';
import { ulidFactory } from './ulid.js';

export interface AlarmForwardingOptions {
  config: ForwardingConfig;
  site: string;
  store: Store;
  bus: EventBus;
  log: Logger;
  /** Zone and camera of a device (device config `zone` / `camera`). */
  deviceInfo: (device: string) => RoutedDevice;
  /** After an operator acknowledgement is persisted: light the pole, play the voice prompt. */
  onAcknowledged: (alarm: Alarm, ack: OperatorAckMessage) => void;
  now?: () => number;
}

export class AlarmForwarding {
  readonly outboxHook: AlarmOutboxHook;
  private readonly forwarders = new Map<string, Forwarder>();
  private dispatcher: OutboxDispatcher | undefined;
  private readonly log: Logger;
  private readonly newId = ulidFactory();

  constructor(private readonly opts: AlarmForwardingOptions) {
    this.log = opts.log;
    const routes = opts.config.routes;
    this.outboxHook = {
      entriesFor: (alarm) => outboxEntriesFor(alarm, routes, opts.deviceInfo(alarm.device)),
      queued: (rows: readonly OutboxRow[]) => this.dispatcher?.queued(rows),
    };
    for (const path of opts.config.paths) {
      const forwarder = createForwarder(path, {
        log: opts.log.child({ path: path.id, type: path.type }),
        now: opts.now ?? Date.now,
        site: opts.site,
        onHealth: (h) => this.pathHealth(h),
        onOperatorAck: (ack) => this.ackFromPath(ack, path.id),
      });
      this.forwarders.set(path.id, forwarder);
    }
  }

  /** Start the paths (connections, heartbeats) and the dispatcher, which resumes whatever the outbox still holds. */
  async start(alarms: AlarmService): Promise<void> {
    const { opts } = this;
    this.dispatcher = new OutboxDispatcher({
      store: opts.store,
      alarms,
      forwarders: this.forwarders,
      routes: opts.config.routes,
      retry: opts.config.retry,
      deviceInfo: opts.deviceInfo,
      log: opts.log.child({ module: 'outbox' }),
      onAcknowledged: opts.onAcknowledged,
      ...(opts.now ? { now: opts.now } : {}),
    });
    // A path that cannot connect at boot is a supervision event, not a reason to refuse to start.
    await Promise.all(
      [...this.forwarders.values()].map((f) =>
        f.start().catch((err: unknown) => this.log.error({ path: f.path, err: errorMessage(err) }, 'alarm path failed to start; it keeps retrying')),
      ),
    );
    this.dispatcher.start();
    const pending = opts.store.outbox.stats().pending;
    this.log.info({ paths: [...this.forwarders.keys()], routes: opts.config.routes.map((r) => r.id), pending }, 'alarm forwarding started');
  }

  async stop(): Promise<void> {
    await this.dispatcher?.stop();
    await Promise.allSettled([...this.forwarders.values()].map((f) => f.stop()));
  }

  /** An operator acknowledgement from the HTTP callback or a path's back channel. */
  operatorAck(ack: OperatorAckMessage, via: string): Alarm | undefined {
    if (!this.dispatcher) return undefined;
    return this.dispatcher.operatorAck(ack, via);
  }

  health(): PathHealth[] {
    return [...this.forwarders.values()].map((f) => f.health());
  }

  stats(): DispatcherStats & { paths: PathHealth[] } {
    const base = this.dispatcher?.stats() ?? { pending: 0, delivered: 0, oldestPendingMs: 0, accountsActive: 0, escalations: 0 };
    return { ...base, paths: this.health() };
  }

  get configured(): boolean {
    return this.forwarders.size > 0;
  }

  /** Losing a path is itself an event: logged, kept in the store's event history (device `gateway`), published. */
  private pathHealth(h: PathHealth): void {
    if (h.up) this.log.info({ path: h.path }, 'alarm path up');
    else this.log.error({ path: h.path, reason: h.reason, detectionMs: h.detectionMs }, 'alarm path lost');
    try {
      const fields: Record<string, string | number> = { path: h.path, type: h.type };
      if (h.reason !== undefined) fields.reason = h.reason;
      if (h.detectionMs !== undefined) fields.detectionMs = h.detectionMs;
      this.opts.store.appendEvent({
        id: this.newId(),
        site: this.opts.site,
        device: 'gateway',
        profile: 'gateway',
        event: h.up ? 'alarm_path_restored' : 'alarm_path_lost',
        kind: 'device',
        ts: h.since,
        fields,
      });
    } catch (err) {
      this.log.error({ err: errorMessage(err), path: h.path }, 'could not record the path event');
    }
    this.opts.bus.emit('path', h);
    this.dispatcher?.pathHealthChanged(h);
  }

  private ackFromPath(ack: OperatorAck, path: string): void {
    if (ack.alarmId === undefined && (ack.account === undefined || ack.seq === undefined)) {
      this.log.warn({ path, ack }, 'operator acknowledgement names neither alarmId nor account+seq; ignored');
      return;
    }
    this.operatorAck(ack as OperatorAckMessage, `path:${path}`);
  }
}
