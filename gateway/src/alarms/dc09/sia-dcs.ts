/**
 * SIA-DCS data (SIA DC-03 inside DC-09): `#<acct>|N<block>[|A<text>]`, e.g. `#1234|Nri1/PA501`
 * = new event, area (ri) 1, event code PA (panic alarm) at address (zone) 501. Pure.
 *
 * The block is `/`-separated tokens: modifiers `tiHH:MM` (time), `ri<n>` (area / partition),
 * `id<n>` (user), and events `<CC><address>` (two upper-case letters, 0-6 digits). A modifier
 * applies to the events after it until the next modifier of the same kind, so the encoder
 * writes one only when it changes. `|A<text>` is the optional ASCII text block (the public
 * vector `#1234|NRR|Atest`: event RR, text "test").
 */
import { ErrorCodes, ShouwangError } from '../../errors.js';
import type { DataParseResult } from './contact-id.js';
import { isHex } from './text.js';

export interface SiaDcsEvent {
  /** Two upper-case letters, e.g. PA panic, BA burglary, FA fire, RR reset, YK link ok. */
  code: string;
  /** Zone / point / user number as digits, e.g. "501"; '' or absent for none. */
  address?: string;
  /** `ri` area / partition. */
  area?: number;
  /** `id` user number. */
  user?: number;
  /** `ti` time of the event, HH:MM. */
  time?: string;
}

export interface SiaDcsMessage {
  account: string;
  events: SiaDcsEvent[];
  /** `|A` text block: printable ASCII without `[`, `]`, `|`. */
  text?: string;
}

function invalid(message: string): ShouwangError {
  return new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `SIA-DCS data: ${message}`);
}

const CODE_RE = /^[A-Z]{2}$/;
const ADDRESS_RE = /^\d{0,6}$/;
const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const TEXT_RE = /^[\x20-\x5a\x5c\x5e-\x7b\x7d\x7e]*$/;

function number(n: number, name: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 999999) throw invalid(`${name} ${n} must be an integer 0..999999`);
  return String(n);
}

export function siaDcsData(msg: SiaDcsMessage): string {
  if (!isHex(msg.account, 3, 16)) throw invalid(`account ${JSON.stringify(msg.account)} must be 3-16 hex digits`);
  if (msg.events.length === 0) throw invalid('at least one event is needed');
  const tokens: string[] = [];
  let time: string | undefined;
  let area: number | undefined;
  let user: number | undefined;
  for (const ev of msg.events) {
    if (!CODE_RE.test(ev.code)) throw invalid(`event code ${JSON.stringify(ev.code)} must be two upper-case letters`);
    const address = ev.address ?? '';
    if (!ADDRESS_RE.test(address)) throw invalid(`address ${JSON.stringify(address)} must be 0-6 digits`);
    if (ev.time !== undefined && ev.time !== time) {
      if (!TIME_RE.test(ev.time)) throw invalid(`time ${JSON.stringify(ev.time)} must be HH:MM`);
      tokens.push(`ti${ev.time}`);
      time = ev.time;
    }
    if (ev.area !== undefined && ev.area !== area) {
      tokens.push(`ri${number(ev.area, 'area')}`);
      area = ev.area;
    }
    if (ev.user !== undefined && ev.user !== user) {
      tokens.push(`id${number(ev.user, 'user')}`);
      user = ev.user;
    }
    tokens.push(`${ev.code}${address}`);
  }
  let out = `#${msg.account}|N${tokens.join('/')}`;
  if (msg.text !== undefined) {
    if (!TEXT_RE.test(msg.text)) throw invalid('text must be printable ASCII without "[", "]" or "|"');
    out += `|A${msg.text}`;
  }
  return out;
}

const DATA_RE = /^#([0-9A-Fa-f]{3,16})\|N([^|]*)(?:\|A([^|]*))?$/;

export function parseSiaDcsData(data: string): DataParseResult<SiaDcsMessage> {
  const m = DATA_RE.exec(data);
  if (!m) return { ok: false, message: `SIA-DCS data ${JSON.stringify(data.slice(0, 40))} is not #acct|N…[|Atext]` };
  const events: SiaDcsEvent[] = [];
  let time: string | undefined;
  let area: number | undefined;
  let user: number | undefined;
  for (const token of m[2]!.split('/')) {
    let t: RegExpExecArray | null;
    if ((t = /^ti(\d{2}:\d{2})$/.exec(token)) && TIME_RE.test(t[1]!)) time = t[1];
    else if ((t = /^ri(\d{1,6})$/.exec(token))) area = Number(t[1]);
    else if ((t = /^id(\d{1,6})$/.exec(token))) user = Number(t[1]);
    else if ((t = /^([A-Z]{2})(\d{0,6})$/.exec(token))) {
      const ev: SiaDcsEvent = { code: t[1]!, address: t[2]! };
      if (area !== undefined) ev.area = area;
      if (user !== undefined) ev.user = user;
      if (time !== undefined) ev.time = time;
      events.push(ev);
    } else return { ok: false, message: `SIA-DCS token ${JSON.stringify(token.slice(0, 20))} is neither ti/ri/id nor an event code` };
  }
  if (events.length === 0) return { ok: false, message: 'SIA-DCS data carries no event code' };
  const value: SiaDcsMessage = { account: m[1]!, events };
  if (m[3] !== undefined) value.text = m[3];
  return { ok: true, value };
}
