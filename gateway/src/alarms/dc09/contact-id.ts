/**
 * ADM-CID data: Ademco Contact ID carried in DC-09, `#<acct>|<Q><EEE> <GG> <ZZZ>`, e.g.
 * `#1234|1130 01 015` = new event (1) 130 burglary, group/partition 01, zone 015. Pure.
 *
 * Q: 1 new event / opening, 3 restore / closing, 6 previously reported condition still present
 * (status). EEE event code, GG group (partition), ZZZ zone or user - all decimal digits.
 */
import { ErrorCodes, ShouwangError } from '../../errors.js';
import { isHex } from './text.js';

export type ContactIdQualifier = 1 | 3 | 6;

export interface ContactIdEvent {
  account: string;
  qualifier: ContactIdQualifier;
  /** 0..999, e.g. 120 panic, 130 burglary, 137 tamper, 110 fire. */
  event: number;
  /** 0..99 */
  group: number;
  /** 0..999 */
  zone: number;
}

export type DataParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

function digits(n: number, width: number, name: string): string {
  if (!Number.isInteger(n) || n < 0 || n >= 10 ** width) {
    throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `ADM-CID ${name} ${n} must be an integer 0..${10 ** width - 1}`);
  }
  return String(n).padStart(width, '0');
}

export function contactIdData(ev: ContactIdEvent): string {
  if (!isHex(ev.account, 3, 16)) {
    throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `ADM-CID account ${JSON.stringify(ev.account)} must be 3-16 hex digits`);
  }
  if (ev.qualifier !== 1 && ev.qualifier !== 3 && ev.qualifier !== 6) {
    throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `ADM-CID qualifier ${String(ev.qualifier)} must be 1, 3 or 6`);
  }
  return `#${ev.account}|${ev.qualifier}${digits(ev.event, 3, 'event')} ${digits(ev.group, 2, 'group')} ${digits(ev.zone, 3, 'zone')}`;
}

const CID_RE = /^#([0-9A-Fa-f]{3,16})\|([136])(\d{3}) (\d{2}) (\d{3})$/;

export function parseContactIdData(data: string): DataParseResult<ContactIdEvent> {
  const m = CID_RE.exec(data);
  if (!m) return { ok: false, message: `ADM-CID data ${JSON.stringify(data.slice(0, 40))} is not #acct|QEEE GG ZZZ` };
  return {
    ok: true,
    value: {
      account: m[1]!,
      qualifier: Number(m[2]) as ContactIdQualifier,
      event: Number(m[3]),
      group: Number(m[4]),
      zone: Number(m[5]),
    },
  };
}
