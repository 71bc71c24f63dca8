/**
 * The text of an alarm SMS (pure). One short line of GSM-safe ASCII, at most 160 characters,
 * so that it fits one GSM 7-bit SMS:
 *
 *   SHOUWANG ALARM PA panic acct 1234 seq 0042 dev pole-03 B3 F2 R201 22.5401N 113.9312E
 *   2026-11-22 14:03:05Z id 01JD3Q...
 *
 * (one line on the phone; wrapped here). A restore starts `SHOUWANG RESTORE` and ends with
 * `re <id of the alarm it restores>` when that fits.
 *
 * Why ASCII only: text mode with AT+CSCS="GSM" carries the GSM 7-bit alphabet; Chinese needs
 * UCS2 (70 characters per SMS) or PDU mode, which v1 does not do. Location names in Chinese
 * (`3栋`, `南山区...`) are reduced to what survives as ASCII (`3`), or dropped; the alarm id,
 * account, sequence and coordinates are what the police console looks the alarm up by anyway.
 * Characters where ASCII and the GSM alphabet disagree ($ @ [ \ ] ^ _ ` { | } ~) are replaced.
 *
 * When the parts do not fit, the least important go first (restore reference, address, rule
 * name, location, coordinates, time); the code, account, sequence, device and id stay.
 */
import type { Alarm } from '../../core/types.js';

export const SMS_MAX_CHARS = 160;

export interface SmsTextInput {
  account: string;
  seq: number;
  alarm: Alarm;
}

/** Where ASCII and GSM 03.38 disagree: the nearest character both agree on, or nothing. */
const GSM_UNSAFE_REPLACEMENT: Readonly<Record<string, string>> = {
  _: '-',
  '|': '/',
  '[': '(',
  ']': ')',
  '{': '(',
  '}': ')',
  '~': '-',
  '\\': '/',
  '`': "'",
  '^': '',
  '@': '',
  $: '',
};

/**
 * Text reduced to characters that read the same in ASCII and the GSM 7-bit alphabet: full-width
 * forms and accents folded (`３` -> `3`, `é` -> `e`), unsafe ASCII replaced, everything else
 * (Chinese, emoji, control characters) dropped, spaces collapsed.
 */
export function gsmSafeText(input: string): string {
  const folded = input.normalize('NFKC').normalize('NFD').replace(/\p{M}/gu, '');
  let out = '';
  for (const ch of folded) {
    const code = ch.codePointAt(0)!;
    if (Object.hasOwn(GSM_UNSAFE_REPLACEMENT, ch)) out += GSM_UNSAFE_REPLACEMENT[ch];
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    // A dropped character still separates words: `3栋201室` -> `3 201`, not `3201`.
    else out += ' ';
  }
  return out.replace(/\s+/g, ' ').trim();
}

/** One word of the message: no spaces, bounded length; empty when nothing ASCII is left. */
function word(input: string | undefined, max: number): string {
  if (input === undefined) return '';
  return gsmSafeText(input).replace(/ /g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').slice(0, max);
}

function coordinate(value: number, positive: string, negative: string): string {
  return `${Math.abs(value).toFixed(4)}${value >= 0 ? positive : negative}`;
}

/** `2026-11-22 14:03:05Z` (UTC, seconds). */
function utcStamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

interface Part {
  text: string;
  /** 0 = never dropped; higher numbers are dropped first when the message is too long. */
  drop: number;
}

export function composeSmsText(input: SmsTextInput): string {
  const { alarm } = input;
  const parts: Part[] = [];
  const add = (text: string, drop: number) => {
    if (text) parts.push({ text, drop });
  };
  add(alarm.kind === 'restore' ? 'SHOUWANG RESTORE' : 'SHOUWANG ALARM', 0);
  add(alarm.code.sia ? word(alarm.code.sia, 4) : alarm.code.cid !== undefined ? `CID${alarm.code.cid}` : '', 0);
  add(word(alarm.rule, 20), 4);
  const account = word(input.account, 16);
  add(account ? `acct ${account}` : '', 1);
  add(`seq ${String(input.seq).padStart(4, '0')}`, 1);
  const device = word(alarm.device, 24);
  add(device ? `dev ${device}` : '', 1);
  const loc = alarm.location ?? {};
  const place = [
    ['B', word(loc.building, 10)],
    ['F', word(loc.floor, 4)],
    ['R', word(loc.room, 12)],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}${v}`)
    .join(' ');
  add(place, 3);
  if (loc.lat !== undefined && loc.lon !== undefined) add(`${coordinate(loc.lat, 'N', 'S')} ${coordinate(loc.lon, 'E', 'W')}`, 2);
  else add(gsmSafeText(loc.address ?? '').slice(0, 40), 5);
  add(utcStamp(alarm.raisedAt), 2);
  add(`id ${word(alarm.id, 40)}`, 1);
  if (alarm.restores) add(`re ${word(alarm.restores, 40)}`, 6);

  const join = () => parts.map((p) => p.text).join(' ');
  let text = join();
  while (text.length > SMS_MAX_CHARS) {
    // Drop the least important part, the last of equals first (it is further down the line).
    let victim = -1;
    for (let i = 0; i < parts.length; i++) if (parts[i]!.drop > 0 && (victim < 0 || parts[i]!.drop >= parts[victim]!.drop)) victim = i;
    if (victim < 0) break;
    parts.splice(victim, 1);
    text = join();
  }
  return text.slice(0, SMS_MAX_CHARS);
}
