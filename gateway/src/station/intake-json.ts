/**
 * The JSON alarm message the gateway's webhook forwarder POSTs and its MQTT uplink publishes,
 * as the receiver reads it (zod; the type is z.infer), and its mapping to a board entry. Pure.
 *
 * Required: what the station needs to show and dedupe an alarm (type, site, alarmId, account,
 * seq, kind, device, name, code, severity, raisedAt). The rest is optional so that a gateway
 * which adds or drops a descriptive field does not get its alarms refused. Unknown fields are
 * ignored (stripped), never an error.
 */
import { z } from 'zod';
import type { BoardAlarmInput, IntakeKind } from './alarm-board.js';
import type { CodeSeverity } from './receiver-codes.js';
import type { ReceiverAccount } from './receiver-config.js';
import { resolveJsonLocation } from './receiver-location.js';

const text = (max: number) => z.string().min(1).max(max);

export const jsonLocationSchema = z.object({
  building: z.string().max(128).optional(),
  room: z.string().max(128).optional(),
  floor: z.string().max(64).optional(),
  address: z.string().max(256).optional(),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
});

export const alarmMessageSchema = z.object({
  type: z.literal('alarm'),
  site: text(64),
  alarmId: text(64),
  account: z.string().regex(/^[0-9A-Fa-f]{3,16}$/, 'must be 3-16 hex digits'),
  seq: z.number().int().min(1).max(9999),
  kind: z.enum(['alarm', 'restore']),
  state: z.string().max(32).optional(),
  device: text(128),
  profile: z.string().max(128).optional(),
  rule: z.string().max(128).optional(),
  name: z.object({ zh: text(128), en: text(128) }),
  code: z
    .object({
      cid: z.number().int().min(0).max(999).optional(),
      sia: z.string().regex(/^[A-Z]{2}$/, 'must be two upper-case letters').optional(),
    })
    .refine((c) => c.cid !== undefined || c.sia !== undefined, { message: 'needs cid or sia' }),
  severity: z.enum(['emergency', 'critical', 'warning', 'info']),
  silent: z.boolean().optional(),
  latch: z.boolean().optional(),
  raisedAt: z.number().int().nonnegative(),
  location: jsonLocationSchema.nullish(),
  cameraUrl: z.string().max(2048).nullish(),
  fields: z.record(z.string(), z.unknown()).optional(),
  restores: z.string().max(64).nullish(),
  attempt: z.number().int().min(1).optional(),
  /** Contact ID zone / SIA address, when the gateway sends it (looks the zone table up). */
  zone: z.number().int().min(0).max(999).optional(),
  group: z.number().int().min(0).max(99).optional(),
});

export type AlarmMessage = z.infer<typeof alarmMessageSchema>;

/** Path supervision the webhook forwarder POSTs every `heartbeatMs` (signed like an alarm). */
export const heartbeatMessageSchema = z.object({ type: z.literal('heartbeat'), site: text(64), at: z.number().int().nonnegative() });

/** The console sounds for emergencies and critical alarms; warnings are trouble; restores are quiet. */
function consoleSeverity(msg: AlarmMessage): CodeSeverity {
  if (msg.kind === 'restore') return 'info';
  if (msg.severity === 'emergency' || msg.severity === 'critical') return 'alarm';
  return msg.severity === 'warning' ? 'trouble' : 'info';
}

export function jsonToBoardInput(msg: AlarmMessage, intake: Exclude<IntakeKind, 'dc09'>, account: ReceiverAccount | undefined, receivedAt: number): BoardAlarmInput {
  const where = resolveJsonLocation(account, msg.zone, { location: msg.location ?? undefined, device: msg.device, cameraUrl: msg.cameraUrl ?? undefined });
  return {
    intake,
    account: msg.account.toUpperCase(),
    seq: msg.seq,
    alarmId: msg.alarmId,
    site: msg.site,
    protocol: 'json',
    code: { ...(msg.code.cid === undefined ? {} : { cid: msg.code.cid }), ...(msg.code.sia === undefined ? {} : { sia: msg.code.sia }) },
    kind: msg.kind,
    ...(msg.zone === undefined ? {} : { zone: msg.zone }),
    ...(msg.group === undefined ? {} : { group: msg.group }),
    name: msg.name,
    severity: consoleSeverity(msg),
    location: where.location,
    ...(where.source ? { locationSource: where.source } : {}),
    ...(where.cameraUrl ? { cameraUrl: where.cameraUrl } : {}),
    raisedAt: msg.raisedAt,
    receivedAt,
    silent: msg.silent === true,
    ...(msg.restores ? { restores: msg.restores } : {}),
    detail: `${msg.profile ?? '?'}/${msg.rule ?? '?'}${msg.fields ? ` ${JSON.stringify(msg.fields).slice(0, 500)}` : ''}`,
  };
}
