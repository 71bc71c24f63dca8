/**
 * The gateway config (gateway.yaml). Validated once at boot and frozen; modules receive
 * only their slice. `shouwang schema` prints the JSON Schema generated from this file.
 */
import { z } from 'zod';
import { forwardingSchema } from '../alarms/forwarding-config.js';
import { influxSchema } from '../sinks/influx/config.js';
import { accessSchema } from '../access/config.js';
import { durationSchema, pollClassSchema } from '../profiles/schema.js';

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids use letters, digits, - and _');
/** MQTT topic levels must not contain wildcards or separators. */
const topicLevel = z.string().regex(/^[^/#+\s]+$/, 'no /, #, + or spaces');

const intRange = (min: number, max: number) =>
  z.number().int(`expected an integer ${min}-${max}`).min(min, `expected ${min}-${max}`).max(max, `expected ${min}-${max}`);

export const pollingSchema = z
  .object({
    /** Interval per poll class in ms. `alarm: 0` sweeps alarm points back to back. */
    intervals: z
      .object({
        alarm: durationSchema.default(0),
        fast: durationSchema.default(1000),
        normal: durationSchema.default(5000),
        slow: durationSchema.default(60_000),
      })
      .strict()
      .default({ alarm: 0, fast: 1000, normal: 5000, slow: 60_000 }),
    /** Other reads allowed between two alarm sweeps; bounds alarm latency to one sweep + this many reads. */
    readsBetweenAlarmSweeps: intRange(1, 64).default(1),
    /** Bounded queue: a bus never holds more pending reads than this. */
    queueLimit: intRange(8, 10_000).default(512),
    breaker: z
      .object({
        /** Consecutive failures that open a device's breaker. */
        failures: intRange(1, 100).default(3),
        /** First backoff; doubles per failed probe up to maxBackoff. */
        backoff: durationSchema.default(5000),
        maxBackoff: durationSchema.default(60_000),
      })
      .strict()
      .default({ failures: 3, backoff: 5000, maxBackoff: 60_000 }),
    /** A value older than this many of its poll intervals is published as stale. */
    staleAfterIntervals: z.number().min(1).max(100).default(3),
  })
  .strict();
export type PollingConfig = z.infer<typeof pollingSchema>;

const busCommon = {
  id: idSchema,
  name: z.string().optional(),
  /** Response timeout per request. */
  timeout: durationSchema.default(300),
  /** Silence after a frame before the next request. Default: 3.5 character times (1.75 ms above 19200 baud). */
  interFrameDelay: durationSchema.optional(),
  /** Wait before reopening a lost port or connection. */
  reconnect: durationSchema.default(1000),
  polling: pollingSchema.default(pollingSchema.parse({})),
};

const serialLine = {
  path: z.string().min(1),
  baudRate: z
    .number()
    .int()
    .refine((b) => [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].includes(b), 'expected a standard baud rate (1200-115200)')
    .default(9600),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
};

export const busSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('rtu'), ...busCommon, ...serialLine }).strict(),
  z
    .object({
      type: z.literal('rtu-over-tcp'),
      ...busCommon,
      host: z.string().min(1),
      port: intRange(1, 65535),
      /** The serial line behind the device server, for wire timing. */
      baudRate: serialLine.baudRate,
    })
    .strict(),
  z.object({ type: z.literal('tcp'), ...busCommon, host: z.string().min(1), port: intRange(1, 65535) }).strict(),
  z.object({ type: z.literal('raw-serial'), ...busCommon, ...serialLine }).strict(),
]);
export type BusConfig = z.infer<typeof busSchema>;

export const locationSchema = z
  .object({
    building: z.string().optional(),
    floor: z.string().optional(),
    room: z.string().optional(),
    address: z.string().optional(),
    lat: z.number().min(-90).max(90).optional(),
    lon: z.number().min(-180).max(180).optional(),
  })
  .strict();

export const deviceSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    profile: z.string().min(1),
    /** Bus id; omitted for MQTT-native devices. */
    bus: idSchema.optional(),
    unitId: intRange(1, 247).optional(),
    location: locationSchema.default({}),
    labels: z.record(z.string(), z.string()).default({}),
    enabled: z.boolean().default(true),
    /** Per-device override of point poll classes/intervals. */
    poll: z.record(z.string(), z.union([pollClassSchema, durationSchema])).optional(),
    /** Alarm zone the receiver sees (Contact ID ZZZ / SIA address); defaults to the device's 1-based position. */
    zone: intRange(1, 999).optional(),
    /** Camera / verification URL sent with its alarms (DC-09 [V…], JSON `cameraUrl`). */
    camera: z.string().url().optional(),
  })
  .strict();
export type DeviceConfig = z.infer<typeof deviceSchema>;

export const mqttRoleSchema = z.enum(['admin', 'app', 'device', 'nodered', 'upstream']);

export const mqttUserSchema = z
  .object({
    username: z.string().min(1),
    /** `scrypt$...` hash made by `shouwang passwd`; never a plain password. */
    passwordHash: z.string().regex(/^scrypt\$/, 'expected a scrypt$... hash from `shouwang passwd`'),
    role: mqttRoleSchema,
    /** For role `device`: the MQTT-native device this client is. */
    device: idSchema.optional(),
    /** Extra topic filters this client may publish / subscribe to (MQTT wildcards allowed). */
    publish: z.array(z.string()).default([]),
    subscribe: z.array(z.string()).default([]),
  })
  .strict();
export type MqttUserConfig = z.infer<typeof mqttUserSchema>;

export const mqttSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: intRange(0, 65535).default(1883),
    allowAnonymous: z.boolean().default(false),
    /** Anonymous clients may only subscribe to state/availability/event when allowed at all. */
    users: z.array(mqttUserSchema).default([]),
    /** File with more users (written by `shouwang passwd --add`, and by the demo on first run). */
    usersFile: z.string().optional(),
    tls: z
      .object({ port: intRange(0, 65535).default(8883), cert: z.string(), key: z.string(), ca: z.string().optional() })
      .strict()
      .optional(),
    topicPrefix: topicLevel.default('shouwang'),
  })
  .strict();
export type MqttConfig = z.infer<typeof mqttSchema>;

export const gatewayConfigSchema = z
  .object({
    site: z
      .object({
        id: topicLevel.and(idSchema),
        name: z.string().default(''),
        address: z.string().optional(),
        timezone: z.string().default('Asia/Shanghai'),
      })
      .strict(),
    storage: z.object({ dir: z.string().default('./data') }).strict().default({ dir: './data' }),
    profiles: z.object({ dirs: z.array(z.string()).min(1).default(['device-profiles']) }).strict().default({ dirs: ['device-profiles'] }),
    buses: z.array(busSchema).default([]),
    devices: z.array(deviceSchema).default([]),
    mqtt: mqttSchema.default(mqttSchema.parse({})),
    /** Alarm forwarding to receivers: paths, routes, retry (alarms/forwarding-config.ts). */
    forwarding: forwardingSchema.default(forwardingSchema.parse({})),
    /** Rental-housing registry and access log (access/config.ts). */
    access: accessSchema.default(accessSchema.parse({})),
    /** Telemetry to InfluxDB with a disk spool (sinks/influx/config.ts); off by default. */
    influx: influxSchema.prefault({}),
    /** The gateway's HTTP API (acknowledgement callback, health). */
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('127.0.0.1'),
        /** 0 = any free port (tests, demo); a site sets a fixed one for the receiver's callback URL. */
        port: z.number().int().min(0).max(65535).default(0),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 0 }),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).strict().default({ level: 'info' }),
  })
  .strict();

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

/**
 * The file named by `mqtt.usersFile` (written by `shouwang passwd --add`): more MQTT users,
 * kept out of gateway.yaml so that adding a device's credentials does not touch the main config.
 */
export const mqttUsersFileSchema = z.object({ users: z.array(mqttUserSchema).default([]) }).strict();
export type MqttUsersFile = z.infer<typeof mqttUsersFileSchema>;
