/**
 * MQTT-native devices: a message on `<base>/<device>/up` (already authorised by the broker's ACL)
 * is parsed as JSON and mapped to point values through the device's profile json points, then
 * handed to `onValues`. Bad input is logged with the topic and field, counted, and dropped —
 * only the bad part: one wrong field does not lose the other points of the message.
 */
import type { PointValue } from '../../core/types.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { applyDecimals } from '../../profiles/codec.js';
import { isJsonPoint, type JsonPointDef, type PointDef } from '../../profiles/schema.js';
import type { UplinkMessage } from './broker.js';
import { decodeJsonPoint, valueAtPath } from './json-points.js';

export interface DeviceValues {
  device: string;
  values: Record<string, PointValue>;
  ts: number;
}

export interface DeviceIntakeOptions {
  /** The profile points of a configured MQTT-native device, or undefined if there is no such device. */
  pointsOf: (device: string) => readonly PointDef[] | undefined;
  onValues: (values: DeviceValues) => void;
  log: Logger;
  clock?: () => number;
  /** Minimum time between two identical warnings (same topic and field); default 60 s. */
  warnEveryMs?: number;
}

export interface DeviceIntakeStats {
  messages: number;
  accepted: number;
  badJson: number;
  badFields: number;
  unknownDevice: number;
  noKnownPoints: number;
}

export class DeviceIntake {
  private readonly counters: DeviceIntakeStats = { messages: 0, accepted: 0, badJson: 0, badFields: 0, unknownDevice: 0, noKnownPoints: 0 };
  /** Last values per device, for `decimalsFrom` points whose resolution came in an earlier message. */
  private readonly last = new Map<string, Record<string, PointValue>>();
  private readonly lastWarned = new Map<string, { at: number; suppressed: number }>();
  private readonly clock: () => number;
  private readonly warnEveryMs: number;

  constructor(private readonly options: DeviceIntakeOptions) {
    this.clock = options.clock ?? Date.now;
    this.warnEveryMs = options.warnEveryMs ?? 60_000;
  }

  stats(): DeviceIntakeStats {
    return { ...this.counters };
  }

  /** Parse one uplink. Never throws. */
  handle(message: UplinkMessage): void {
    this.counters.messages++;
    const { device, topic } = message;
    const points = this.options.pointsOf(device);
    if (points === undefined) {
      this.counters.unknownDevice++;
      this.warn(topic, '<device>', `mqtt uplink ${topic}: no MQTT device "${device}" is configured; message dropped`);
      return;
    }
    const defs = points.filter(isJsonPoint);
    let doc: unknown;
    try {
      doc = JSON.parse(message.payload.toString('utf8'));
    } catch (err) {
      this.counters.badJson++;
      this.warn(topic, '<json>', `mqtt uplink ${topic}: payload is not JSON (${errorMessage(err)}); message dropped`);
      return;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      this.counters.badJson++;
      this.warn(topic, '<shape>', `mqtt uplink ${topic}: payload must be a JSON object, got ${Array.isArray(doc) ? 'an array' : typeof doc}; message dropped`);
      return;
    }
    const values: Record<string, PointValue> = {};
    for (const def of defs) this.decodeField(topic, def, doc, values);
    if (Object.keys(values).length === 0) {
      this.counters.noKnownPoints++;
      this.warn(topic, '<points>', `mqtt uplink ${topic}: no known point in the payload (expected paths: ${defs.map((d) => d.json).join(', ') || 'none'})`);
      return;
    }
    const previous = this.last.get(device) ?? {};
    applyDecimals(defs, values, previous);
    this.last.set(device, { ...previous, ...values });
    this.counters.accepted++;
    try {
      this.options.onValues({ device, values, ts: this.clock() });
    } catch (err) {
      this.options.log.error({ topic, err: errorMessage(err) }, 'mqtt uplink: onValues handler failed');
    }
  }

  private decodeField(topic: string, def: JsonPointDef, doc: object, out: Record<string, PointValue>): void {
    const raw = valueAtPath(doc, def.json);
    if (raw === undefined) return; // a partial update: the device sent other fields only
    const result = decodeJsonPoint(def, raw);
    if (result.ok) {
      out[def.id] = result.value;
      return;
    }
    this.counters.badFields++;
    this.warn(topic, def.json, `mqtt uplink ${topic}: field "${def.json}" (point ${def.id}, ${def.type}): ${result.problem}; field ignored`);
  }

  /** Log a warning, at most once per `warnEveryMs` per topic+field (a broken device repeats itself). */
  private warn(topic: string, field: string, message: string): void {
    const key = `${topic}\u0000${field}`;
    const now = this.clock();
    const seen = this.lastWarned.get(key);
    if (seen && now - seen.at < this.warnEveryMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    if (this.lastWarned.size > 10_000) this.lastWarned.clear(); // bound memory if topics are junk
    this.lastWarned.set(key, { at: now, suppressed: 0 });
    this.options.log.warn({ topic, ...(field.startsWith('<') ? {} : { field }), ...(suppressed ? { suppressed } : {}) }, message);
  }
}
