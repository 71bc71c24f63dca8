/**
 * Configuration of the police-station receiver (`shouwang receive --config receiver.yaml`):
 * zod schema, type = z.infer, loaded from YAML with file:line errors like gateway.yaml.
 *
 * The `dc09` slice is the existing DC-09 receiver config (dc09-config.ts); each account may
 * add what only the station needs: a display name, the zone table that turns "account 1234
 * zone 15" into a building, room and map position, and where acknowledgements go back.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCodes, ShouwangError } from '../errors.js';
import { deepFreeze, locatedError, readYamlFile, validateYaml } from '../config/yaml-source.js';
import { dc09AccountSchema, dc09ReceiverConfigSchema, type Dc09ReceiverConfigInput } from './dc09-config.js';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** One zone (Contact ID zone / SIA address) of an account: what is there and where. */
export const zoneSchema = z
  .object({
    device: z.string().min(1).max(128),
    building: z.string().max(128).optional(),
    room: z.string().max(128).optional(),
    address: z.string().max(256).optional(),
    lat: z.number().min(-90).max(90).optional(),
    lon: z.number().min(-180).max(180).optional(),
    /** Live camera or snapshot page for this zone. */
    camera: httpUrl.optional(),
  })
  .strict()
  .refine((z0) => (z0.lat === undefined) === (z0.lon === undefined), { message: 'give lat and lon together', path: ['lat'] });

export const ackCallbackSchema = z
  .object({
    /** The gateway's acknowledgement endpoint, e.g. http://10.0.0.2:8080/api/alarm-acks. */
    url: httpUrl,
    /** HMAC-SHA256 secret shared with the gateway (auth/hmac.ts). */
    secret: z.string().min(16, 'at least 16 characters'),
  })
  .strict();

export const receiverAccountSchema = dc09AccountSchema
  .extend({
    /** Display name, e.g. 城中村 A 区. */
    name: z.string().min(1).max(128).optional(),
    zones: z.record(z.string().regex(/^\d{1,3}$/, 'zone numbers are 0-999'), zoneSchema).default({}),
    ackCallback: ackCallbackSchema.optional(),
  })
  .strict();

const { accounts: _dc09Accounts, ...dc09Shape } = dc09ReceiverConfigSchema.shape;

export const receiverDc09Schema = z
  .object({ ...dc09Shape, accounts: z.array(receiverAccountSchema).min(1, 'at least one account is needed') })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.accounts.forEach((a, i) => {
      const norm = a.account.toUpperCase();
      const first = seen.get(norm);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'account'], message: `duplicate account ${norm} (also accounts[${first}])` });
      seen.set(norm, i);
    });
  });

export const mqttIntakeSchema = z
  .object({
    url: z.url({ protocol: /^(mqtts?|wss?|tcp|ssl)$/, error: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' }),
    /** Topic filter the gateway's MQTT uplink publishes alarms on: `<prefix>/<site>/uplink/alarm/<alarmId>`, so e.g. `shouwang/+/uplink/alarm/+`. */
    topic: z.string().min(1),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Where acknowledgements go; `{site}` is the alarm's site. */
    ackTopic: z.string().min(1).default('shouwang/{site}/uplink/ack'),
    clientId: z.string().min(1).max(64).optional(),
  })
  .strict();

export const httpIntakeSchema = z
  .object({
    /** HMAC-SHA256 secret of the gateway's webhook forwarder. */
    secret: z.string().min(16, 'at least 16 characters'),
  })
  .strict();

export const receiverConfigSchema = z
  .object({
    /** Board database, first admin password file. Relative paths are resolved against the config file. */
    dataDir: z.string().min(1).default('./data/receiver'),
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8090),
        /** Mark the session cookie Secure (when the console is served over HTTPS through a proxy). */
        secureCookie: z.boolean().default(false),
        sessionTtlMs: z.number().int().positive().default(12 * 3600_000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8090, secureCookie: false, sessionTtlMs: 12 * 3600_000 }),
    dc09: receiverDc09Schema,
    mqttIntake: mqttIntakeSchema.optional(),
    httpIntake: httpIntakeSchema.optional(),
    /** Acknowledgement callback retries: first delay, cap, and when to give up. */
    ackRetry: z
      .object({
        initialMs: z.number().int().positive().default(1000),
        maxMs: z.number().int().positive().default(60_000),
        giveUpAfterMs: z.number().int().positive().default(24 * 3600_000),
        timeoutMs: z.number().int().positive().default(5000),
      })
      .strict()
      .default({ initialMs: 1000, maxMs: 60_000, giveUpAfterMs: 24 * 3600_000, timeoutMs: 5000 }),
    /** Two copies of one alarm (same account, seq and code) this close together are one alarm. */
    dedupeWindowMs: z.number().int().positive().default(10 * 60_000),
  })
  .strict();

export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;
export type ReceiverConfigInput = z.input<typeof receiverConfigSchema>;
export type ReceiverAccount = z.infer<typeof receiverAccountSchema>;
export type ZoneInfo = z.infer<typeof zoneSchema>;
export type AckCallbackConfig = z.infer<typeof ackCallbackSchema>;
export type MqttIntakeConfig = z.infer<typeof mqttIntakeSchema>;

/** Parse a config object (tests, --demo). Errors name the field. */
export function parseReceiverConfig(input: unknown, source = 'receiver config'): ReceiverConfig {
  const r = receiverConfigSchema.safeParse(input);
  if (r.success) return deepFreeze(r.data);
  const lines = r.error.issues.map((i) => `${source}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ShouwangError(ErrorCodes.CONFIG_INVALID, lines.join('\n'), { details: { issues: r.error.issues } });
}

/** Load receiver.yaml: every error reads `receiver.yaml:12 dc09.accounts[0].zones.15.lat: ...`. */
export function loadReceiverConfig(file: string): ReceiverConfig {
  if (!existsSync(file)) throw new ShouwangError(ErrorCodes.CONFIG_NOT_FOUND, `${file}: receiver config not found`, { details: { file } });
  const parsed = readYamlFile(file, ErrorCodes.CONFIG_INVALID);
  const raw = validateYaml(parsed, receiverConfigSchema, ErrorCodes.CONFIG_INVALID);
  if (raw.mqttIntake && raw.mqttIntake.password !== undefined && raw.mqttIntake.username === undefined) {
    throw locatedError(parsed, ErrorCodes.CONFIG_INVALID, ['mqttIntake', 'password'], 'password given without username');
  }
  const base = dirname(resolve(file));
  return deepFreeze({ ...raw, dataDir: isAbsolute(raw.dataDir) ? raw.dataDir : resolve(base, raw.dataDir) });
}

/** The slice startDc09Receiver takes: the station-only account fields removed. */
export function dc09ReceiverInput(cfg: ReceiverConfig): Dc09ReceiverConfigInput {
  return {
    ...cfg.dc09,
    accounts: cfg.dc09.accounts.map((a) => ({
      account: a.account,
      ...(a.key === undefined ? {} : { key: a.key }),
      ...(a.supervisionMs === undefined ? {} : { supervisionMs: a.supervisionMs }),
    })),
  };
}

/** Accounts by upper-case number (DC-09 accounts are hex; `12ab` and `12AB` are one panel). */
export function accountIndex(cfg: ReceiverConfig): ReadonlyMap<string, ReceiverAccount> {
  return new Map(cfg.dc09.accounts.map((a) => [a.account.toUpperCase(), a]));
}
