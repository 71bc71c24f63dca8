/**
 * The receiver's answers and the transmitter's link test, as DC-09 defines them. Pure apart
 * from the random encryption pad.
 *
 *   ACK  `"ACK"<seq>[R…]L…#<acct>[]`               echoes the message's seq, R, L and account
 *   *ACK `"*ACK"<seq>[R…]L…#<acct>[<hex>`          to an encrypted message: `<pad>|]_<now>` encrypted
 *   NAK  `"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY`   the receiver's own time, so the sender can fix its clock
 *   DUH  `"DUH"<seq>[R…]L…#<acct>[]`               "received intact, cannot process" (never encrypted)
 *   NULL `"NULL"<seq>[R…]L…#<acct>[]_<time>`       supervision / link test from the transmitter
 *
 * The NAK text is the spec's own example; `A0` is not an account field (`#` marks those): a
 * DC-09 parser reads it as line `0A0` and no account, which is what ours does.
 */
import { ErrorCodes, ShouwangError } from '../../errors.js';
import { encryptContent } from './crypto.js';
import { buildFrame, formatHead, wrapBody, type Dc09Header } from './frame.js';
import { formatTimestamp } from './timestamp.js';

/** What a response needs from the message it answers. */
export type RespondTo = Pick<Dc09Header, 'encrypted' | 'seq' | 'receiver' | 'line' | 'account'>;

export interface AckOptions {
  /** The account's key; required when answering an encrypted message. */
  key?: Uint8Array;
  /** Timestamp inside an encrypted ACK; defaults to now. */
  now?: Date;
  /** Fixed pad, for reproducible tests only. */
  pad?: string;
}

export function ackFrame(to: RespondTo, opts: AckOptions = {}): Buffer {
  if (!to.encrypted) return wrapBody(`${formatHead({ ...to, id: 'ACK', encrypted: false })}]`);
  if (!opts.key) {
    throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, 'DC-09 ACK to an encrypted message needs the account key');
  }
  const content = `]${formatTimestamp(opts.now ?? new Date())}`;
  return wrapBody(formatHead({ ...to, id: 'ACK', encrypted: true }) + encryptContent(content, opts.key, opts.pad));
}

export function nakFrame(now: Date): Buffer {
  return wrapBody(`"NAK"0000R0L0A0[]${formatTimestamp(now)}`);
}

/**
 * DUH echoes what could be read of the message; a message whose header could not be read at
 * all gets sequence 0000 and line 0.
 */
export function duhFrame(to: Partial<RespondTo> = {}): Buffer {
  return wrapBody(
    `${formatHead({ id: 'DUH', encrypted: false, seq: to.seq ?? 0, receiver: to.receiver, line: to.line ?? '0', account: to.account })}]`,
  );
}

export interface NullFrameOptions {
  seq: number;
  receiver?: string;
  line: string;
  account: string;
  /** undefined: now; null: none (plain frames only). */
  timestamp?: Date | null;
  key?: Uint8Array;
  pad?: string;
}

export function nullFrame(opts: NullFrameOptions): Buffer {
  return buildFrame({ ...opts, id: 'NULL', data: '' });
}
