/**
 * The gateway's MQTT topic tree (PURE). docs/mqtt-topics.md documents it; keep them together.
 *
 *   <prefix>/<site>/<device>/state           retained JSON of current points
 *   <prefix>/<site>/<device>/availability    retained `online` | `offline`
 *   <prefix>/<site>/<device>/event           access and device events (QoS 1)
 *   <prefix>/<site>/<device>/set/<command>   commands to a device
 *   <prefix>/<site>/<device>/up              uplink of an MQTT-native device
 *   <prefix>/<site>/alarm/<alarmId>          alarm lifecycle (QoS 1, retained while active)
 *   <prefix>/<site>/gateway/status           retained `online` | `offline`
 *   <prefix>/<site>/gateway/health           retained JSON health summary (health/health-service.ts)
 *   <prefix>/<site>/gateway/set/<command>    gateway commands (reset_alarm, acknowledge_alarm)
 *
 * `alarm` and `gateway` sit where a device id would, so they are reserved device ids.
 */

export interface TopicScheme {
  prefix: string;
  site: string;
}

/** Device ids that would collide with the gateway's own topics. */
export const RESERVED_DEVICE_IDS: readonly string[] = ['alarm', 'gateway', 'linkage'];

/** Fixed words of the tree below a device or `gateway` level; never valid alarm ids. */
export const TOPIC_WORDS: readonly string[] = ['state', 'availability', 'event', 'set', 'up', 'status'];

export type DeviceTopicKind = 'state' | 'availability' | 'event' | 'up';

export type ParsedTopic =
  | { kind: DeviceTopicKind; device: string }
  | { kind: 'set'; device: string; command: string }
  | { kind: 'alarm'; alarmId: string }
  | { kind: 'gateway-status' }
  /** The gateway's other outputs: health, alarm-path supervision, 十户联防 linkage notices. */
  | { kind: 'gateway-output' };

const LEVEL = /^[^/#+\u0000]+$/;

function level(name: string, value: string): string {
  if (!LEVEL.test(value)) throw new Error(`${name} "${value}" cannot be an MQTT topic level (no /, #, + or empty)`);
  return value;
}

export class Topics {
  /** `<prefix>/<site>` */
  readonly base: string;

  constructor(readonly scheme: TopicScheme) {
    this.base = `${level('topic prefix', scheme.prefix)}/${level('site id', scheme.site)}`;
  }

  state(device: string): string {
    return `${this.base}/${level('device id', device)}/state`;
  }
  availability(device: string): string {
    return `${this.base}/${level('device id', device)}/availability`;
  }
  event(device: string): string {
    return `${this.base}/${level('device id', device)}/event`;
  }
  up(device: string): string {
    return `${this.base}/${level('device id', device)}/up`;
  }
  set(device: string, command: string): string {
    return `${this.base}/${level('device id', device)}/set/${level('command', command)}`;
  }
  /** Subscription filter for all commands of one device. */
  setFilter(device: string): string {
    return `${this.base}/${level('device id', device)}/set/#`;
  }
  alarm(alarmId: string): string {
    return `${this.base}/alarm/${level('alarm id', alarmId)}`;
  }
  gatewayStatus(): string {
    return `${this.base}/gateway/status`;
  }
  /** Retained supervision state of one alarm path (forwarder): `{ up, since, reason?, detectionMs? }`. */
  gatewayPath(pathId: string): string {
    return `${this.base}/gateway/path/${level('path id', pathId)}`;
  }
  /** Retained JSON health summary of the gateway (online rates, buses, outbox, spool, broker), refreshed every few seconds. */
  gatewayHealth(): string {
    return `${this.base}/gateway/health`;
  }

  /** Classify a concrete topic of this gateway, or undefined when it is not one of ours. */
  parse(topic: string): ParsedTopic | undefined {
    if (!topic.startsWith(`${this.base}/`)) return undefined;
    const rest = topic.slice(this.base.length + 1).split('/');
    if (rest.some((l) => l === '')) return undefined;
    const [first, second, third] = rest;
    if (first === undefined || second === undefined) return undefined;
    if (first === 'alarm') return rest.length === 2 ? { kind: 'alarm', alarmId: second } : undefined;
    if (first === 'linkage') return rest.length === 2 ? { kind: 'gateway-output' } : undefined;
    if (first === 'gateway') {
      if (rest.length === 2 && second === 'status') return { kind: 'gateway-status' };
      if (rest.length === 2 && second === 'health') return { kind: 'gateway-output' };
      if (rest.length === 3 && second === 'path') return { kind: 'gateway-output' };
      // Gateway-level commands (reset_alarm, acknowledge_alarm) use the device command shape.
      if (rest.length === 3 && second === 'set' && third !== undefined) return { kind: 'set', device: 'gateway', command: third };
      return undefined;
    }
    if (rest.length === 2 && (second === 'state' || second === 'availability' || second === 'event' || second === 'up')) {
      return { kind: second, device: first };
    }
    if (rest.length === 3 && second === 'set' && third !== undefined) return { kind: 'set', device: first, command: third };
    return undefined;
  }
}

/** The retained message the gateway publishes about itself, and what a bridge should use as its will. */
export function gatewayStatusMessage(topics: Topics, status: 'online' | 'offline'): { topic: string; payload: string; qos: 1; retain: true } {
  return { topic: topics.gatewayStatus(), payload: status, qos: 1, retain: true };
}
