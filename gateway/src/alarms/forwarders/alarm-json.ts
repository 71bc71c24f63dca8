/**
 * The one JSON document the JSON paths (HTTP webhook, MQTT uplink) put on the wire for an alarm,
 * built by one pure function so that both paths and their docs (docs/forwarders.md) cannot drift.
 *
 * The document is a function of the frozen OutboundMessage only: a retry produces the same bytes
 * except `attempt`, so a receiver dedupes on `alarmId` (or `account` + `seq`) and can still see
 * that it is a retry. Keys are written in a fixed order and absent optional values are `null`
 * (not missing), so receivers can rely on every key being present. Two exceptions: `restores`,
 * which only a restore carries, and the members of `code`, where a code the alarm does not have
 * is left out (the station's intake, station/intake-json.ts, reads `cid`/`sia` as optional
 * numbers/strings, and a DC-09 receiver has no notion of a null code either).
 */
import type { AlarmCode, AlarmState, DeviceLocation, PointValue, Severity } from '../../core/types.js';
import type { OutboundMessage } from './types.js';

export interface AlarmJsonBody {
  type: 'alarm';
  site: string;
  /** Stable alarm id (ULID): the dedupe key. Also sent as the HTTP `Idempotency-Key`. */
  alarmId: string;
  /** Receiver-visible account (same as on the DC-09 path). */
  account: string;
  /** Per-account sequence 1..9999, unchanged on retries. */
  seq: number;
  kind: 'alarm' | 'restore';
  /** Lifecycle state when the alarm was queued. */
  state: AlarmState;
  device: string;
  profile: string;
  rule: string;
  name: { zh: string; en: string };
  /** Contact ID and/or SIA code; a code the alarm does not have is left out. */
  code: { cid?: number; sia?: string };
  severity: Severity;
  silent: boolean;
  latch: boolean;
  /** ms since epoch, gateway clock. */
  raisedAt: number;
  location: DeviceLocation | null;
  cameraUrl: string | null;
  fields: Readonly<Record<string, PointValue>>;
  /** Only on a restore: the id of the alarm it restores. */
  restores?: string;
  /** 1 on the first try on this path. */
  attempt: number;
}

export interface HeartbeatJsonBody {
  type: 'heartbeat';
  site: string;
  /** ms since epoch, gateway clock. */
  at: number;
}

function codeOf(code: AlarmCode): AlarmJsonBody['code'] {
  return { ...(code.cid !== undefined ? { cid: code.cid } : {}), ...(code.sia !== undefined ? { sia: code.sia } : {}) };
}

/** The alarm document for `message` (see the module comment for the rules). */
export function alarmJsonBody(message: OutboundMessage): AlarmJsonBody {
  const { alarm } = message;
  return {
    type: 'alarm',
    site: alarm.site,
    alarmId: alarm.id,
    account: message.account,
    seq: message.seq,
    kind: alarm.kind,
    state: alarm.state,
    device: alarm.device,
    profile: alarm.profile,
    rule: alarm.rule,
    name: { zh: alarm.name.zh, en: alarm.name.en },
    code: codeOf(alarm.code),
    severity: alarm.severity,
    silent: alarm.silent,
    latch: alarm.latch,
    raisedAt: alarm.raisedAt,
    location: alarm.location ?? null,
    cameraUrl: message.cameraUrl ?? null,
    fields: alarm.fields,
    ...(alarm.restores !== undefined ? { restores: alarm.restores } : {}),
    attempt: message.attempt,
  };
}

/** `alarmJsonBody` serialised: the exact bytes that are signed (webhook) and published (MQTT). */
export function alarmJson(message: OutboundMessage): string {
  return JSON.stringify(alarmJsonBody(message));
}

/** The supervision heartbeat a JSON path sends when configured (`heartbeatMs`). */
export function heartbeatJson(site: string, at: number): string {
  const body: HeartbeatJsonBody = { type: 'heartbeat', site, at };
  return JSON.stringify(body);
}
