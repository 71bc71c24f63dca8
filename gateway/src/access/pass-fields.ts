/**
 * What a door device said about one pass, read from a DeviceEvent of kind `access` (the
 * profile's `pass` rule). Pure: no registry, no hashing.
 *
 * Field names (the first present wins), as the shipped profiles name their points:
 *   slot    last_user | user | user_slot | slot      0 means "no user" (stranger, remote unlock)
 *   method  last_method | method                     an enum label of the profile's point
 *   result  last_result | result                     granted | denied | duress
 *   card    last_card | card | card_number           only used when the method is card / id_card
 *
 * Method labels map onto the access-method list of access/types.ts (`fingerprint`, `card`,
 * `id_card`, `face`, `pin`, `temp_code`, `remote`, `key`); anything else (`none`, a raw
 * number from a profile without an enum map) becomes `unknown`. A pass event without a
 * result field is taken as granted: the device reported a pass, not a refusal.
 */
import type { DeviceEvent, PointValue } from '../core/types.js';
import { accessMethods, type AccessMethodName } from './types.js';

export const SLOT_FIELDS = ['last_user', 'user', 'user_slot', 'slot'] as const;
export const METHOD_FIELDS = ['last_method', 'method'] as const;
export const RESULT_FIELDS = ['last_result', 'result'] as const;
export const CARD_FIELDS = ['last_card', 'card', 'card_number'] as const;
/** Where redactCardFields() leaves the salted hash of the card number. */
export const CARD_HASH_FIELD = 'card_hash';

const METHODS: ReadonlySet<string> = new Set(accessMethods);
/** Methods where the device's card register holds the card just presented. */
const CARD_METHODS: ReadonlySet<AccessMethodName> = new Set(['card', 'id_card']);
const DENIED = new Set(['denied', 'deny', 'refused', 'rejected', 'failed', 'fail', 'invalid', 'error']);

export interface PassFacts {
  id: string;
  site: string;
  door: string;
  ts: number;
  method: AccessMethodName;
  /** Lock user slot (> 0), when the device named one. */
  slot?: number;
  /** The card number as read, to be hashed at once by the caller (never stored). */
  cardNumber?: string;
  /** The card number's salted hash, when the event was already redacted (redactCardFields). */
  cardHash?: string;
  result: 'granted' | 'denied';
  /** The device itself reported a duress pass (duress finger / code). */
  duress: boolean;
}

function first(fields: Readonly<Record<string, PointValue>>, names: readonly string[]): PointValue | undefined {
  for (const n of names) if (fields[n] !== undefined && fields[n] !== null) return fields[n];
  return undefined;
}

export function methodOf(value: PointValue | undefined): AccessMethodName {
  if (typeof value !== 'string') return 'unknown';
  const v = value.trim().toLowerCase();
  return METHODS.has(v) ? (v as AccessMethodName) : 'unknown';
}

export function passFacts(e: DeviceEvent): PassFacts {
  const f = e.fields ?? {};
  const method = methodOf(first(f, METHOD_FIELDS));
  const rawSlot = first(f, SLOT_FIELDS);
  const slotNumber = typeof rawSlot === 'number' ? rawSlot : typeof rawSlot === 'string' && /^\d+$/.test(rawSlot) ? Number(rawSlot) : undefined;
  const rawResult = first(f, RESULT_FIELDS);
  const result = typeof rawResult === 'string' ? rawResult.trim().toLowerCase() : typeof rawResult === 'boolean' ? (rawResult ? 'granted' : 'denied') : 'granted';
  const rawCard = first(f, CARD_FIELDS);
  const card = typeof rawCard === 'number' ? (rawCard > 0 ? String(rawCard) : undefined) : typeof rawCard === 'string' && rawCard.trim() !== '' ? rawCard.trim() : undefined;
  const facts: PassFacts = {
    id: e.id,
    site: e.site,
    door: e.device,
    ts: e.ts,
    method,
    result: DENIED.has(result) ? 'denied' : 'granted',
    duress: result === 'duress',
  };
  if (slotNumber !== undefined && Number.isInteger(slotNumber) && slotNumber > 0) facts.slot = slotNumber;
  if (card !== undefined && CARD_METHODS.has(method)) facts.cardNumber = card;
  const hashed = f[CARD_HASH_FIELD];
  if (typeof hashed === 'string' && hashed !== '' && CARD_METHODS.has(method)) facts.cardHash = hashed;
  return facts;
}

/**
 * An access event with every raw card number replaced by its salted hash (`card_hash`), so
 * the number itself is never stored, published on MQTT, written to InfluxDB or logged: the
 * device runtime applies this before anyone hears of the event. Other events pass unchanged.
 */
export function redactCardFields(e: DeviceEvent, hashCard: (card: string) => string): DeviceEvent {
  if (e.kind !== 'access') return e;
  const f = e.fields ?? {};
  if (!CARD_FIELDS.some((n) => f[n] !== undefined)) return e;
  const fields: Record<string, PointValue> = {};
  let card: string | undefined;
  for (const [k, v] of Object.entries(f)) {
    if ((CARD_FIELDS as readonly string[]).includes(k)) {
      if (card === undefined && ((typeof v === 'number' && v > 0) || (typeof v === 'string' && v.trim() !== ''))) card = String(v).trim();
      continue;
    }
    fields[k] = v;
  }
  if (card !== undefined) fields[CARD_HASH_FIELD] = hashCard(card);
  return { ...e, fields };
}
