/**
 * Bus -> MQTT. Listens on the EventBus and publishes as the gateway (in-process, no client):
 *   points  -> `<base>/<device>/state`        retained, QoS 0, full current snapshot
 *   status  -> `<base>/<device>/availability` retained, QoS 1, `online` | `offline`
 *   event   -> `<base>/<device>/event`        QoS 1
 *   alarm   -> `<base>/alarm/<id>`            QoS 1, retained while the alarm is active;
 *              on reset the update is sent, then the retained copy is cleared (empty payload)
 * and `<base>/gateway/status` (retained `online`, `offline` on a clean stop).
 *
 * Publishing happens synchronously in the bus listener (no batching, no timers): an alarm must
 * reach a subscriber within milliseconds. Messages on the same topic are chained so that two
 * quick updates cannot overtake each other and leave a stale retained copy.
 */
import type { EventBus } from '../../core/event-bus.js';
import type { Alarm, DeviceEvent, DeviceStatus, Point } from '../../core/types.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { PublishOptions } from './broker.js';
import type { Topics } from './topics.js';

/** What the publisher needs from the broker (MqttBroker satisfies it). */
export interface MqttPublishTarget {
  readonly topics: Topics;
  publish(topic: string, payload: string | Buffer, opts?: PublishOptions): Promise<void>;
}

export interface MqttPublisherOptions {
  broker: MqttPublishTarget;
  bus: EventBus;
  /** The full current point set of a device (last-value state). */
  snapshot: (device: string) => readonly Point[];
  /** Alarms active at start (reloaded from the store), re-published retained: the broker keeps retained messages in memory only. */
  activeAlarms?: () => readonly Alarm[];
  log: Logger;
}

export interface StatePointPayload {
  value: Point['value'];
  unit?: string;
  quality: Point['quality'];
  ts: number;
  sourceTs?: number;
}

export interface StatePayload {
  device: string;
  /** Newest point time in the snapshot. */
  ts: number;
  points: Record<string, StatePointPayload>;
}

export interface MqttPublisherStats {
  published: number;
  failed: number;
}

/** Build the retained state document: the snapshot with the batch's points laid over it. */
export function statePayload(device: string, snapshot: readonly Point[], changed: readonly Point[] = []): StatePayload {
  const byId = new Map<string, Point>();
  for (const p of snapshot) byId.set(p.point, p);
  // The batch wins: the snapshot may not have taken it in yet, depending on listener order.
  for (const p of changed) byId.set(p.point, p);
  const points: Record<string, StatePointPayload> = {};
  let ts = 0;
  for (const [id, p] of [...byId].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const entry: StatePointPayload = { value: p.value, quality: p.quality, ts: p.ts };
    if (p.unit !== undefined) entry.unit = p.unit;
    if (p.sourceTs !== undefined) entry.sourceTs = p.sourceTs;
    points[id] = entry;
    ts = Math.max(ts, p.ts);
  }
  return { device, ts, points };
}

/** Alarms are retained while active: kind `alarm` and not reset. */
export function isRetainedAlarm(alarm: Alarm): boolean {
  return alarm.kind === 'alarm' && alarm.state !== 'reset';
}

export class MqttPublisher {
  private readonly unsubscribe: Array<() => void> = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly counters: MqttPublisherStats = { published: 0, failed: 0 };
  private started = false;

  constructor(private readonly options: MqttPublisherOptions) {}

  /** Subscribe to the bus, announce the gateway online and re-publish active alarms. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { bus } = this.options;
    this.unsubscribe.push(
      bus.on('points', ({ device, points }) => this.publishState(device, points)),
      bus.on('status', (status) => this.publishStatus(status)),
      bus.on('event', (event) => this.publishEvent(event)),
      bus.on('alarm', (alarm) => this.publishAlarm(alarm)),
    );
    for (const alarm of this.options.activeAlarms?.() ?? []) this.publishAlarm(alarm);
    await this.send(this.options.broker.topics.gatewayStatus(), 'online', { qos: 1, retain: true });
  }

  /** Stop listening and leave a retained `offline` for the gateway. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const off of this.unsubscribe.splice(0)) off();
    await this.send(this.options.broker.topics.gatewayStatus(), 'offline', { qos: 1, retain: true });
    await Promise.all([...this.chains.values()]);
  }

  stats(): MqttPublisherStats {
    return { ...this.counters };
  }

  /** Publish the full state of a device now (e.g. after start, for devices already known). */
  publishState(device: string, changed: readonly Point[] = []): void {
    const doc = statePayload(device, this.options.snapshot(device), changed);
    void this.send(this.options.broker.topics.state(device), JSON.stringify(doc), { qos: 0, retain: true });
  }

  private publishStatus(status: DeviceStatus): void {
    void this.send(this.options.broker.topics.availability(status.device), status.availability, { qos: 1, retain: true });
  }

  private publishEvent(event: DeviceEvent): void {
    void this.send(this.options.broker.topics.event(event.device), JSON.stringify(event), { qos: 1, retain: false });
  }

  private publishAlarm(alarm: Alarm): void {
    const topic = this.options.broker.topics.alarm(alarm.id);
    const retain = isRetainedAlarm(alarm);
    void this.send(topic, JSON.stringify(alarm), { qos: 1, retain });
    // Reset (or ended by its restore): clear the retained copy so late subscribers do not see it.
    if (alarm.kind === 'alarm' && alarm.state === 'reset') void this.send(topic, '', { qos: 1, retain: true });
  }

  /** Publish in order per topic; failures are logged and counted, never thrown into the bus. */
  private send(topic: string, payload: string, opts: PublishOptions): Promise<void> {
    const previous = this.chains.get(topic);
    const run = () =>
      this.options.broker.publish(topic, payload, opts).then(
        () => {
          this.counters.published++;
        },
        (err: unknown) => {
          this.counters.failed++;
          this.options.log.warn({ topic, err: errorMessage(err) }, 'mqtt publish failed');
        },
      );
    // First message on a topic goes out synchronously (no extra tick on the alarm path).
    const next = previous ? previous.then(run) : run();
    this.chains.set(topic, next);
    void next.then(() => {
      if (this.chains.get(topic) === next) this.chains.delete(topic);
    });
    return next;
  }
}
