/**
 * Where an alarm is, from what the station knows (the account's zone table in receiver.yaml)
 * and what the message carried (DC-09 [X][Y]/[V], or the JSON `location`/`cameraUrl`). Pure.
 *
 * Precedence, per field:
 * - DC-09: the zone table first (the station's own survey of the village is the reference for a
 *   zone number); [X][Y] fill the map position when the table has none. A [V] URL points at
 *   this very event's snapshot, so it wins over the zone's standing camera link.
 * - JSON: the gateway's device location first (it names the device that raised the alarm);
 *   the zone table fills gaps when the message names a zone.
 */
import type { BoardLocation } from './alarm-board.js';
import type { ReceiverAccount, ZoneInfo } from './receiver-config.js';

export interface ResolvedLocation {
  location: BoardLocation;
  /** e.g. `zone`, `dc09`, `zone+dc09`, `json`, `json+zone`; undefined when nothing is known. */
  source: string | undefined;
  cameraUrl: string | undefined;
}

export interface MessageLocation {
  device?: string | undefined;
  building?: string | undefined;
  room?: string | undefined;
  floor?: string | undefined;
  address?: string | undefined;
  lat?: number | undefined;
  lon?: number | undefined;
}

export function zoneOf(account: ReceiverAccount | undefined, zone: number | undefined): ZoneInfo | undefined {
  if (!account || zone === undefined) return undefined;
  return account.zones[String(zone)] ?? account.zones[String(zone).padStart(3, '0')];
}

function fromZone(z: ZoneInfo): MessageLocation {
  return { device: z.device, building: z.building, room: z.room, address: z.address, lat: z.lat, lon: z.lon };
}

/** Fields of `primary`, gaps filled from `secondary`; lat/lon travel as a pair. */
function combine(primary: MessageLocation, secondary: MessageLocation): BoardLocation {
  const out: BoardLocation = {};
  for (const key of ['device', 'building', 'room', 'floor', 'address'] as const) {
    const v = primary[key] ?? secondary[key];
    if (v !== undefined && v !== '') out[key] = v;
  }
  const pos = primary.lat !== undefined && primary.lon !== undefined ? primary : secondary;
  if (pos.lat !== undefined && pos.lon !== undefined) {
    out.lat = pos.lat;
    out.lon = pos.lon;
  }
  return out;
}

function isEmpty(l: MessageLocation): boolean {
  return Object.values(l).every((v) => v === undefined || v === '');
}

/** Only http(s) links reach the console: a `javascript:` URL in a message must never become a link. */
export function safeHttpUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

export function resolveDc09Location(
  account: ReceiverAccount | undefined,
  zone: number | undefined,
  msg: { location?: { lat: number; lon: number } | undefined; verificationUrl?: string | undefined },
): ResolvedLocation {
  const z = zoneOf(account, zone);
  const fromMsg: MessageLocation = msg.location ? { lat: msg.location.lat, lon: msg.location.lon } : {};
  const parts = [z ? 'zone' : undefined, msg.location && !(z?.lat !== undefined) ? 'dc09' : undefined].filter(Boolean);
  return {
    location: combine(z ? fromZone(z) : {}, fromMsg),
    source: parts.length ? parts.join('+') : undefined,
    cameraUrl: safeHttpUrl(msg.verificationUrl) ?? z?.camera,
  };
}

export function resolveJsonLocation(
  account: ReceiverAccount | undefined,
  zone: number | undefined,
  msg: { location?: MessageLocation | undefined; device?: string | undefined; cameraUrl?: string | undefined },
): ResolvedLocation {
  const z = zoneOf(account, zone);
  const fromMsg: MessageLocation = { ...(msg.location ?? {}), device: msg.device };
  const parts = [isEmpty(msg.location ?? {}) ? undefined : 'json', z ? 'zone' : undefined].filter(Boolean);
  return {
    location: combine(fromMsg, z ? fromZone(z) : {}),
    source: parts.length ? parts.join('+') : undefined,
    cameraUrl: safeHttpUrl(msg.cameraUrl) ?? z?.camera,
  };
}
