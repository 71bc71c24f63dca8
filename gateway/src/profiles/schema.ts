/**
 * The device profile schema: one YAML file per device model in device-profiles/.
 * A profile describes a device TYPE (EdgeX's device profile); a device INSTANCE in the gateway
 * config names a profile, a bus and an address. Types are z.infer of these schemas.
 */
import { z } from 'zod';

const i18nName = z.object({ zh: z.string().min(1), en: z.string().min(1) }).strict();

/** Durations are written `250ms`, `5s`, `2m`, `1h` or as a number of milliseconds. */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'expected a duration like 500ms, 5s, 2m, 1h')
    .transform((s) => parseDuration(s)),
]);

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}`);
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n * mult);
}

export const modbusTables = ['coil', 'discrete', 'input', 'holding'] as const;
export const modbusTableSchema = z.enum(modbusTables);
export type ModbusTable = z.infer<typeof modbusTableSchema>;

export const pointTypes = ['bool', 'u16', 'i16', 'u32', 'i32', 'f32', 'bitfield', 'enum', 'string'] as const;
export const pointTypeSchema = z.enum(pointTypes);
export type PointType = z.infer<typeof pointTypeSchema>;

/** Byte order inside a 16-bit register, and word order of 32-bit values (BE = high word first). */
export const byteOrderSchema = z.enum(['BE', 'LE']);
export type ByteOrder = z.infer<typeof byteOrderSchema>;

/**
 * Poll classes. `alarm` points are read first and most often (continuous sweeps); the others
 * use the bus's interval for that class unless the point gives its own `poll: 30s`.
 */
export const pollClassSchema = z.enum(['alarm', 'fast', 'normal', 'slow']);
export type PollClass = z.infer<typeof pollClassSchema>;

const labelMap = z.record(z.string().regex(/^-?\d+$/, 'map keys are raw integer values'), z.string().min(1));

const pointCommon = {
  id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'point ids are snake_case'),
  name: i18nName.optional(),
  type: pointTypeSchema,
  unit: z.string().optional(),
  scale: z.number().optional(),
  offset: z.number().optional(),
  /**
   * Divide by 10^(value of another point), for devices that report their own resolution
   * (gas detectors: a "decimal places" register beside the concentration).
   */
  decimalsFrom: z.string().optional(),
  /** Report by exception: a numeric change smaller than this is not published. */
  deadband: z.number().nonnegative().optional(),
  /** For bool / enum: raw value -> label. A bool without a map reads as true/false. */
  map: labelMap.optional(),
  /** For bitfield: bit number -> flag name. */
  bits: z.record(z.string().regex(/^\d+$/), z.string().regex(/^[a-z][a-z0-9_]*$/)).optional(),
  /** For a bool read from a register: which bit (0 = least significant). */
  bit: z.number().int().min(0).max(15).optional(),
  /** For a raw 16-bit value: keep only these bits before decoding, then shift right. */
  mask: z.number().int().min(0).max(0xffffffff).optional(),
  shift: z.number().int().min(0).max(31).optional(),
  byteOrder: byteOrderSchema.optional(),
  wordOrder: byteOrderSchema.optional(),
  /** For string: how many registers (2 characters each) or bytes (raw serial). */
  length: z.number().int().min(1).max(125).optional(),
  poll: z.union([pollClassSchema, durationSchema]).optional(),
  /** Shorthand used in ARCHITECTURE.md: `priority: alarm` is `poll: alarm`. */
  priority: z.enum(['alarm', 'normal']).optional(),
  /** Writable from the API / commands (holding registers and coils only). */
  writable: z.boolean().optional(),
};

export const modbusPointSchema = z
  .object({
    ...pointCommon,
    table: modbusTableSchema,
    address: z.number().int().min(0).max(65535),
  })
  .strict();

/** A point carried in a raw-serial frame's data, at a byte offset. */
export const framePointSchema = z
  .object({
    ...pointCommon,
    /** Which response or push command carries this point. */
    frame: z.string(),
    offset: z.number().int().min(0).max(255),
  })
  .strict();

/** A point carried in an MQTT-native device's JSON payload, at a dotted path. */
export const jsonPointSchema = z
  .object({
    ...pointCommon,
    json: z.string().regex(/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*|\[\d+\])*$/, 'a dotted path like status.door'),
  })
  .strict();

export const pointSchema = z.union([modbusPointSchema, framePointSchema, jsonPointSchema]);
export type ModbusPointDef = z.infer<typeof modbusPointSchema>;
export type FramePointDef = z.infer<typeof framePointSchema>;
export type JsonPointDef = z.infer<typeof jsonPointSchema>;
export type PointDef = z.infer<typeof pointSchema>;

export const identifySchema = z
  .object({
    table: modbusTableSchema,
    address: z.number().int().min(0).max(65535),
    count: z.number().int().min(1).max(125),
    /** Expected raw register values; `null` matches anything at that position. */
    expect: z.array(z.number().int().min(0).max(0xffff).nullable()).min(1),
  })
  .strict();

/** A value compared against a point: a label from its map, a number or a boolean. */
const comparable = z.union([z.string(), z.number(), z.boolean()]);

const conditionSchema = z.union([
  comparable,
  z
    .object({
      equals: comparable.optional(),
      not: comparable.optional(),
      above: z.number().optional(),
      below: z.number().optional(),
      /** For bitfields: the named flag is set. */
      flag: z.string().optional(),
    })
    .strict(),
]);
export type ConditionDef = z.infer<typeof conditionSchema>;

/**
 * When a rule fires. Exactly one trigger form:
 *  - `becomes: open`         edge: the point changes to this value ("door opened")
 *  - `equals: 3` / `flag`    level: the point equals this value (fires on entering the state)
 *  - `above` / `below`       threshold, with `hysteresis` for the restore
 *  - `changes: true`         any change (event counters, e.g. a pass log sequence)
 *  - `received: true`        every new value, even a repeat: for points carried by unsolicited
 *                            pushes (raw-serial push frames, MQTT JSON), where each frame is an
 *                            occurrence ("door 3 opened") rather than a state
 * `while` adds conditions on other points that must hold at that moment ("while bolt is locked");
 * `for` requires the condition to hold for a time ("door held open 60s"); `debounce` ignores
 * flickers shorter than that.
 */
export const triggerSchema = z
  .object({
    point: z.string(),
    becomes: comparable.optional(),
    equals: comparable.optional(),
    flag: z.string().optional(),
    above: z.number().optional(),
    below: z.number().optional(),
    hysteresis: z.number().nonnegative().optional(),
    changes: z.literal(true).optional(),
    received: z.literal(true).optional(),
    while: z.record(z.string(), conditionSchema).optional(),
    for: durationSchema.optional(),
    debounce: durationSchema.optional(),
  })
  .strict()
  .refine(
    (t) =>
      [
        t.becomes !== undefined,
        t.equals !== undefined,
        t.flag !== undefined,
        t.above !== undefined || t.below !== undefined,
        t.changes === true,
        t.received === true,
      ].filter(Boolean).length === 1,
    { message: 'a trigger needs exactly one of becomes, equals, flag, above/below, changes, received' },
  );
export type TriggerDef = z.infer<typeof triggerSchema>;

export const severitySchema = z.enum(['emergency', 'critical', 'warning', 'info']);

export const alarmDefSchema = z
  .object({
    /** Contact ID event code, 3 digits (e.g. 120 panic, 121 duress, 137 tamper, 111 smoke). */
    cid: z.number().int().min(100).max(999),
    /** SIA DC-03 event code (e.g. PA, HA, TA, FA, GA, DF). */
    sia: z.string().regex(/^[A-Z]{2}$/),
    /** SIA code to send on restore (e.g. TR for TA). Defaults to none: no restore for latched alarms. */
    siaRestore: z.string().regex(/^[A-Z]{2}$/).optional(),
    severity: severitySchema,
    /** Latches until a person resets it. Defaults to true for emergency severity. */
    latch: z.boolean().optional(),
    silent: z.boolean().optional(),
    /** Forward a restore when the condition clears. */
    restore: z.boolean().optional(),
  })
  .strict();
export type AlarmDef = z.infer<typeof alarmDefSchema>;

export const eventDefSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_]*$/),
    name: i18nName,
    when: triggerSchema,
    /** `access` events are passes (door log); `device` events are everything else. */
    kind: z.enum(['access', 'device']).default('device'),
    /** Points snapshotted into the event, e.g. [last_user, last_method, last_result]. */
    fields: z.array(z.string()).default([]),
    alarm: alarmDefSchema.optional(),
  })
  .strict();
export type EventDef = z.infer<typeof eventDefSchema>;

const writeSchema = z
  .object({
    table: z.enum(['coil', 'holding']),
    address: z.number().int().min(0).max(65535),
    /** A fixed value, or omitted to take the command argument. */
    value: z.union([z.number().int(), z.boolean()]).optional(),
  })
  .strict();

export const commandDefSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_]*$/),
    name: i18nName,
    /** A Modbus write, or a raw-serial frame command (see `serial.commands`). */
    write: writeSchema.optional(),
    frame: z.string().optional(),
    /** Pulse: after this long, write `pulseValue` (default 0/false) back. */
    pulse: durationSchema.optional(),
    pulseValue: z.union([z.number().int(), z.boolean()]).optional(),
    /** Argument accepted from the caller, when the write has no fixed value. */
    argument: z.object({ type: z.enum(['u16', 'bool']), min: z.number().optional(), max: z.number().optional() }).strict().optional(),
    roles: z.array(z.enum(['admin', 'manager', 'technician', 'police'])).min(1),
  })
  .strict()
  .refine((c) => (c.write === undefined) !== (c.frame === undefined), { message: 'a command needs exactly one of write or frame' });
export type CommandDef = z.infer<typeof commandDefSchema>;

/** Raw-serial framing, e.g. the lock board `57 4B 4C 59 | len | addr | cmd | data | XOR`. */
export const framingSchema = z
  .object({
    header: z.array(z.number().int().min(0).max(255)).min(1).max(8),
    /** Where the length byte is and what it counts. */
    length: z
      .object({
        offset: z.number().int().min(0),
        /** `frame`: the whole frame incl. header and checksum; `data`: data bytes only. */
        counts: z.enum(['frame', 'data']),
      })
      .strict(),
    addressOffset: z.number().int().min(0),
    commandOffset: z.number().int().min(0),
    dataOffset: z.number().int().min(0),
    checksum: z
      .object({
        type: z.enum(['xor', 'sum8', 'crc16-modbus']),
        /** First byte covered (0 = from the header). The checksum covers up to the byte before it. */
        from: z.number().int().min(0).default(0),
      })
      .strict(),
  })
  .strict();
export type FramingDef = z.infer<typeof framingSchema>;

const frameDefSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_]*$/),
    command: z.number().int().min(0).max(255),
    /** Data bytes of a request; `arg` bytes are filled from the command argument. */
    data: z.array(z.union([z.number().int().min(0).max(255), z.literal('arg')])).default([]),
    /** The reply's command byte (requests only). Defaults to the request's. */
    reply: z.number().int().min(0).max(255).optional(),
  })
  .strict();

export const serialSchema = z
  .object({
    framing: framingSchema,
    /** Polled requests: sent by the gateway; the reply frame (by `id`) carries points. */
    requests: z.array(frameDefSchema.extend({ poll: z.union([pollClassSchema, durationSchema]).optional() })).default([]),
    /** Unsolicited pushes the device sends on its own (door opened, lock state changed). */
    pushes: z.array(frameDefSchema).default([]),
    /** Command frames sent by `commands[].frame`. */
    commands: z.array(frameDefSchema).default([]),
  })
  .strict();
export type SerialDef = z.infer<typeof serialSchema>;

export const deviceKinds = [
  'door-lock',
  'access-controller',
  'alarm-pole',
  'io-module',
  'door-contact',
  'pir',
  'smoke-detector',
  'gas-detector',
  'siren',
  'lock-board',
  'other',
] as const;

export const transportKindSchema = z.enum(['modbus-rtu', 'modbus-tcp', 'rtu-over-tcp', 'raw-serial', 'mqtt']);
export type TransportKind = z.infer<typeof transportKindSchema>;

export const profileSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'profile ids are kebab-case'),
    name: i18nName,
    kind: z.enum(deviceKinds),
    vendor: z.string().optional(),
    description: i18nName.optional(),
    transport: z.array(transportKindSchema).min(1),
    /** Register numbers in this file count from 0 (protocol addresses) or 1 (datasheet 4x0001 style). */
    addressBase: z.union([z.literal(0), z.literal(1)]).default(0),
    byteOrder: byteOrderSchema.default('BE'),
    wordOrder: byteOrderSchema.default('BE'),
    /** Largest block read the device accepts (some cheap devices reject long reads). */
    maxReadRegisters: z.number().int().min(1).max(125).default(64),
    maxReadBits: z.number().int().min(1).max(2000).default(256),
    identify: identifySchema.optional(),
    points: z.array(pointSchema).min(1),
    events: z.array(eventDefSchema).default([]),
    commands: z.array(commandDefSchema).default([]),
    /**
     * Commands the gateway runs on this device when a police operator acknowledges one of its
     * alarms: the "help is coming" light or voice prompt, so the person who pressed knows.
     */
    onAlarmAcknowledged: z
      .array(z.object({ command: z.string().min(1), argument: z.union([z.number(), z.boolean()]).optional() }).strict())
      .default([]),
    serial: serialSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    p.onAlarmAcknowledged.forEach((a, i) => {
      if (!p.commands.some((c) => c.id === a.command))
        ctx.addIssue({ code: 'custom', path: ['onAlarmAcknowledged', i, 'command'], message: `no command "${a.command}" in this profile` });
    });
  });

export type ProfileInput = z.input<typeof profileSchema>;
export type Profile = z.infer<typeof profileSchema>;

export function isModbusPoint(p: PointDef): p is ModbusPointDef {
  return 'table' in p;
}
export function isFramePoint(p: PointDef): p is FramePointDef {
  return 'frame' in p;
}
export function isJsonPoint(p: PointDef): p is JsonPointDef {
  return 'json' in p;
}

/** Effective poll class or interval of a point. */
export function pollOf(p: PointDef): PollClass | number {
  if (p.priority === 'alarm') return 'alarm';
  return p.poll ?? 'normal';
}

/** Number of 16-bit registers (or bits, for coil/discrete) a point occupies. */
export function registerCount(p: Pick<PointDef, 'type' | 'length'>): number {
  switch (p.type) {
    case 'u32':
    case 'i32':
    case 'f32':
      return 2;
    case 'string':
      return p.length ?? 1;
    default:
      return 1;
  }
}
