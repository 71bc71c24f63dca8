/**
 * DC-09 extended data ("xdata"): blocks `[<tag><value>]` after the data block, tag one
 * upper-case letter. We give typed helpers for the ones the alarm path uses:
 *
 * - `X` longitude and `Y` latitude, written as hemisphere letter + decimal degrees
 *   (`[XE113.93][YN22.54]`: 113.93° east, 22.54° north). DC-09 caps each value at 12 characters;
 *   six decimals (~0.1 m) fit. The parser also accepts a bare signed decimal (`[X-0.12]`).
 * - `V` verification: where audio/video for the event can be fetched (a camera snapshot URL).
 *
 * Other tags (I alarm text, M MAC, S site name, H time of occurrence, ...) pass through as raw
 * `{ tag, value }` pairs. Pure.
 */
import { ErrorCodes, ShouwangError } from '../../errors.js';
import { isFieldText } from './text.js';

export interface Dc09ExtField {
  /** One upper-case letter, e.g. `X`, `Y`, `V`. */
  tag: string;
  /** Printable ASCII without `[` / `]`. */
  value: string;
}

export interface GeoLocation {
  /** Degrees, −90..90, north positive. */
  lat: number;
  /** Degrees, −180..180, east positive. */
  lon: number;
}

/** DC-09's own limits: X/Y/Z 12 characters, text-like fields 256. */
const MAX_VALUE_LENGTH: Readonly<Record<string, number>> = { X: 12, Y: 12, Z: 12, M: 12, A: 12 };
const DEFAULT_MAX_VALUE_LENGTH = 256;

function invalid(message: string): ShouwangError {
  return new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `DC-09 extended data: ${message}`);
}

/** Throws unless the field can be written into a frame as is. */
export function assertExtField(field: Dc09ExtField): void {
  if (!/^[A-Z]$/.test(field.tag)) throw invalid(`tag ${JSON.stringify(field.tag)} must be one upper-case letter`);
  if (!isFieldText(field.value)) {
    throw invalid(`[${field.tag}] value must be printable ASCII without '[' or ']'`);
  }
  const max = MAX_VALUE_LENGTH[field.tag] ?? DEFAULT_MAX_VALUE_LENGTH;
  if (field.value.length > max) throw invalid(`[${field.tag}] value is ${field.value.length} characters, at most ${max}`);
}

export function encodeExtended(fields: readonly Dc09ExtField[]): string {
  let out = '';
  for (const f of fields) {
    assertExtField(f);
    out += `[${f.tag}${f.value}]`;
  }
  return out;
}

function degrees(value: number): string {
  // toFixed avoids exponent notation for tiny values; trailing zeros carry no information.
  return Math.abs(value).toFixed(6).replace(/\.?0+$/, '');
}

/** `[X…][Y…]` for a location. Throws on out-of-range or non-finite coordinates. */
export function locationFields(loc: GeoLocation): Dc09ExtField[] {
  if (!Number.isFinite(loc.lat) || loc.lat < -90 || loc.lat > 90) throw invalid(`latitude ${loc.lat} out of range`);
  if (!Number.isFinite(loc.lon) || loc.lon < -180 || loc.lon > 180) throw invalid(`longitude ${loc.lon} out of range`);
  return [
    { tag: 'X', value: `${loc.lon < 0 ? 'W' : 'E'}${degrees(loc.lon)}` },
    { tag: 'Y', value: `${loc.lat < 0 ? 'S' : 'N'}${degrees(loc.lat)}` },
  ];
}

/** `[V<url>]`. The URL must already be percent-encoded where it would contain `[` or `]`. */
export function verificationField(url: string): Dc09ExtField {
  const field = { tag: 'V', value: url };
  assertExtField(field);
  return field;
}

const COORD_RE = /^([NSEW])?(-?\d{1,3}(?:\.\d+)?)$/;

function parseCoordinate(value: string, positive: string, negative: string, limit: number): number | undefined {
  const m = COORD_RE.exec(value);
  if (!m) return undefined;
  const hemi = m[1];
  const n = Number(m[2]);
  if (hemi !== undefined && hemi !== positive && hemi !== negative) return undefined;
  if (hemi !== undefined && n < 0) return undefined;
  const signed = hemi === negative ? -n : n;
  return Math.abs(signed) <= limit ? signed : undefined;
}

/** The location carried by X and Y fields, when both are present and well-formed. */
export function locationFromExtended(fields: readonly Dc09ExtField[]): GeoLocation | undefined {
  const x = fields.find((f) => f.tag === 'X');
  const y = fields.find((f) => f.tag === 'Y');
  if (!x || !y) return undefined;
  const lon = parseCoordinate(x.value, 'E', 'W', 180);
  const lat = parseCoordinate(y.value, 'N', 'S', 90);
  return lon === undefined || lat === undefined ? undefined : { lat, lon };
}

export function verificationUrlFromExtended(fields: readonly Dc09ExtField[]): string | undefined {
  return fields.find((f) => f.tag === 'V')?.value;
}
