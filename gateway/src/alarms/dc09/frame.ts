/**
 * SIA DC-09 frames: build and parse. Pure (the only impurity is the random encryption pad and
 * the default timestamp "now" when a caller gives none).
 *
 *   <LF> CRC(4 hex) 0LLL "ID" seq(4 digits) [R<hex>] L<hex> [#<acct>] [data] [x…]… [_timestamp] <CR>
 *
 * CRC (CRC-16/ARC) and LLL (3 hex digits after a literal `0`) both cover the bytes from the
 * opening `"` of the ID through the end of the timestamp, i.e. everything between the length
 * field and the CR. The parser never throws on bad input: it returns a typed error instead.
 */
import { ErrorCodes, ShouwangError } from '../../errors.js';
import { crc16Arc, crcHex } from './crc.js';
import { decryptContent, encryptContent } from './crypto.js';
import {
  encodeExtended,
  locationFromExtended,
  verificationUrlFromExtended,
  type Dc09ExtField,
  type GeoLocation,
} from './extended.js';
import { isFieldText, isHex, isPrintableAscii } from './text.js';
import { formatTimestamp, parseTimestamp, TIMESTAMP_LENGTH } from './timestamp.js';

const LF = 0x0a;
const CR = 0x0d;
/** LF + CRC + 0LLL + CR. */
const ENVELOPE_BYTES = 1 + 4 + 4 + 1;
/** The length field is `0` + three hex digits. */
export const MAX_BODY_LENGTH = 0xfff;
export const MAX_FRAME_BYTES = MAX_BODY_LENGTH + ENVELOPE_BYTES;

export const MESSAGE_IDS = ['SIA-DCS', 'ADM-CID', 'NULL'] as const;
export const RESPONSE_IDS = ['ACK', 'NAK', 'DUH'] as const;

/** The header fields, i.e. what a response has to echo. */
export interface Dc09Header {
  /** Without the encryption star: `SIA-DCS`, `ADM-CID`, `NULL`, `ACK`, `NAK`, `DUH`, … */
  id: string;
  encrypted: boolean;
  /** 0..9999; a retransmission reuses the number of the original. */
  seq: number;
  /** Receiver number, hex digits as sent (optional in DC-09). */
  receiver: string | undefined;
  /** Line prefix, hex digits as sent. */
  line: string;
  /** Account, 3-16 hex digits as sent; absent only in NAK. */
  account: string | undefined;
}

export interface Dc09Frame extends Dc09Header {
  /** The content of the data block without its brackets, e.g. `#1234|NRR|Atest`. */
  data: string;
  extended: Dc09ExtField[];
  /** Transmitter time (UTC) when the frame carries one. */
  timestamp: Date | undefined;
  /** Convenience views of the X/Y and V extended fields. */
  location: GeoLocation | undefined;
  verificationUrl: string | undefined;
  crc: number;
  length: number;
}

export type Dc09ErrorCode = 'crc' | 'length' | 'format' | 'unknown-account' | 'decrypt';

export interface Dc09ParseError {
  code: Dc09ErrorCode;
  message: string;
}

export type Dc09ParseResult =
  | { ok: true; frame: Dc09Frame }
  /** `header` is there when the error came after the header was understood (for a DUH). */
  | { ok: false; error: Dc09ParseError; header?: Dc09Header };

export interface ParseFrameOptions {
  /** Key for an account's encrypted frames; undefined when the account has none. */
  keys?: (account: string) => Uint8Array | undefined;
}

export interface BuildFrameOptions {
  /** `SIA-DCS`, `ADM-CID`, `NULL`, … without the star; `key` makes it `*ID`. */
  id: string;
  seq: number;
  receiver?: string;
  line: string;
  account: string;
  /** Data block content without brackets (see contactIdData / siaDcsData); '' for NULL. */
  data: string;
  extended?: readonly Dc09ExtField[];
  /** undefined: now; null: no timestamp (not allowed with a key: DC-09 requires it there). */
  timestamp?: Date | null;
  /** AES key (16/24/32 bytes): the frame is sent encrypted. */
  key?: Uint8Array;
  /** Fixed encryption pad, for reproducible test vectors only. */
  pad?: string;
}

function invalid(message: string): ShouwangError {
  return new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `DC-09 frame: ${message}`);
}

/** LF + CRC + 0LLL + body + CR. Throws if the body cannot be framed. */
export function wrapBody(body: string): Buffer {
  // Checked on the string: latin1 encoding would silently fold other characters into ASCII.
  if (!/^[\x20-\x7e]*$/.test(body)) throw invalid('body must be printable ASCII');
  const bytes = Buffer.from(body, 'latin1');
  if (bytes.length > MAX_BODY_LENGTH) throw invalid(`body is ${bytes.length} bytes, at most ${MAX_BODY_LENGTH} fit 0LLL`);
  const head = `\n${crcHex(crc16Arc(bytes))}0${bytes.length.toString(16).toUpperCase().padStart(3, '0')}`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes, Buffer.from('\r', 'latin1')]);
}

export function formatSeq(seq: number): string {
  if (!Number.isInteger(seq) || seq < 0 || seq > 9999) throw invalid(`sequence ${seq} must be an integer 0..9999`);
  return String(seq).padStart(4, '0');
}

/** `"ID"seqRrcvLline#acct[` - the cleartext head shared by messages and responses. */
export function formatHead(h: { id: string; encrypted: boolean; seq: number; receiver?: string | undefined; line: string; account?: string | undefined }): string {
  if (!/^[A-Za-z0-9-]{1,16}$/.test(h.id)) throw invalid(`id ${JSON.stringify(h.id)} must be 1-16 letters, digits or '-'`);
  if (h.receiver !== undefined && !isHex(h.receiver, 1, 6)) throw invalid(`receiver ${JSON.stringify(h.receiver)} must be 1-6 hex digits`);
  if (!isHex(h.line, 1, 6)) throw invalid(`line ${JSON.stringify(h.line)} must be 1-6 hex digits`);
  if (h.account !== undefined && !isHex(h.account, 3, 16)) throw invalid(`account ${JSON.stringify(h.account)} must be 3-16 hex digits`);
  return (
    `"${h.encrypted ? '*' : ''}${h.id}"${formatSeq(h.seq)}` +
    `${h.receiver !== undefined ? `R${h.receiver}` : ''}L${h.line}` +
    `${h.account !== undefined ? `#${h.account}` : ''}[`
  );
}

/** Builds a complete frame. Throws ShouwangError(PAYLOAD_INVALID) on fields DC-09 cannot carry. */
export function buildFrame(opts: BuildFrameOptions): Buffer {
  if (!isFieldText(opts.data)) throw invalid('data must be printable ASCII without "[" or "]"');
  const encrypted = opts.key !== undefined;
  const when = opts.timestamp === undefined ? new Date() : opts.timestamp;
  if (encrypted && when === null) throw invalid('an encrypted frame must carry a timestamp');
  const head = formatHead({ ...opts, encrypted });
  const content = `${opts.data}]${encodeExtended(opts.extended ?? [])}${when ? formatTimestamp(when) : ''}`;
  return wrapBody(head + (opts.key ? encryptContent(content, opts.key, opts.pad) : content));
}

const HEAD_RE = /^"(\*?)([A-Za-z0-9-]{1,16})"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?L([0-9A-Fa-f]{1,6})(?:#([0-9A-Fa-f]{3,16}))?\[/;

function fail(code: Dc09ErrorCode, message: string, header?: Dc09Header): Dc09ParseResult {
  return header ? { ok: false, error: { code, message }, header } : { ok: false, error: { code, message } };
}

interface Content {
  data: string;
  extended: Dc09ExtField[];
  timestamp: Date | undefined;
}

/** `data]` + `[x…]`* + `_timestamp`? - what follows `[` once in the clear. */
function parseContent(text: string): Content | string {
  const close = text.indexOf(']');
  if (close < 0) return 'data block has no closing "]"';
  const data = text.slice(0, close);
  if (data.includes('[')) return 'data block contains "["';
  const extended: Dc09ExtField[] = [];
  let i = close + 1;
  while (text[i] === '[') {
    const end = text.indexOf(']', i);
    if (end < 0) return 'extended data block has no closing "]"';
    const inner = text.slice(i + 1, end);
    if (inner.includes('[')) return 'extended data block contains "["';
    if (!/^[A-Z]/.test(inner)) return `extended data block [${inner}] does not start with an upper-case tag`;
    extended.push({ tag: inner[0]!, value: inner.slice(1) });
    i = end + 1;
  }
  const tail = text.slice(i);
  if (tail === '') return { data, extended, timestamp: undefined };
  if (tail.length !== TIMESTAMP_LENGTH || tail[0] !== '_') return `unexpected ${JSON.stringify(tail.slice(0, 24))} after the data`;
  const timestamp = parseTimestamp(tail);
  if (!timestamp) return `timestamp ${JSON.stringify(tail)} is not a valid _HH:MM:SS,MM-DD-YYYY`;
  return { data, extended, timestamp };
}

function ascii(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

/** Parses one frame (LF … CR, nothing around it). Never throws. */
export function parseFrame(buf: Uint8Array, opts: ParseFrameOptions = {}): Dc09ParseResult {
  if (!(buf instanceof Uint8Array)) return fail('format', 'frame is not a byte buffer');
  if (buf.length < ENVELOPE_BYTES) return fail('format', `frame is ${buf.length} bytes, too short`);
  if (buf[0] !== LF) return fail('format', 'frame does not start with LF');
  if (buf[buf.length - 1] !== CR) return fail('format', 'frame does not end with CR');
  const crcText = ascii(buf, 1, 5);
  if (!isHex(crcText, 4, 4)) return fail('format', `CRC field ${JSON.stringify(crcText)} is not 4 hex digits`);
  const lenText = ascii(buf, 5, 9);
  if (lenText[0] !== '0' || !isHex(lenText, 4, 4)) {
    return fail('format', `length field ${JSON.stringify(lenText)} is not 0LLL (a 0 and 3 hex digits)`);
  }
  const declared = parseInt(lenText, 16);
  const bodyStart = 9;
  const bodyEnd = buf.length - 1;
  const actual = bodyEnd - bodyStart;
  if (declared !== actual) return fail('length', `length field says ${declared} bytes, the frame carries ${actual}`);
  const crc = parseInt(crcText, 16);
  const computed = crc16Arc(buf, bodyStart, bodyEnd);
  if (crc !== computed) return fail('crc', `CRC field is ${crcHex(crc)}, the body's CRC is ${crcHex(computed)}`);
  if (!isPrintableAscii(buf, bodyStart, bodyEnd)) return fail('format', 'body contains bytes that are not printable ASCII');

  const body = ascii(buf, bodyStart, bodyEnd);
  const m = HEAD_RE.exec(body);
  if (!m) return fail('format', `header ${JSON.stringify(body.slice(0, 40))} is not "ID"seq[R…]L…[#acct][`);
  const header: Dc09Header = {
    id: m[2]!,
    encrypted: m[1] === '*',
    seq: Number(m[3]),
    receiver: m[4],
    line: m[5]!,
    account: m[6],
  };
  let rest = body.slice(m[0].length);

  if (header.encrypted) {
    if (header.account === undefined) return fail('unknown-account', 'encrypted frame carries no account', header);
    let key: Uint8Array | undefined;
    try {
      key = opts.keys?.(header.account);
    } catch {
      key = undefined;
    }
    if (!key) return fail('unknown-account', `no key for account ${header.account}`, header);
    const decrypted = decryptContent(rest, key, {
      allowMissingSeparator: (RESPONSE_IDS as readonly string[]).includes(header.id),
    });
    if (!decrypted.ok) return fail('decrypt', `account ${header.account}: ${decrypted.message}`, header);
    rest = decrypted.content;
  }

  const content = parseContent(rest);
  if (typeof content === 'string') {
    // Behind a correct key the content is what the sender built; garbage here almost always
    // means a wrong key that happened to decrypt to printable bytes after a '|'.
    if (header.encrypted) return fail('decrypt', `account ${header.account}: decrypted content is malformed (wrong key?): ${content}`, header);
    return fail('format', content, header);
  }
  if (header.encrypted && content.timestamp === undefined) {
    return fail('format', 'encrypted frame carries no timestamp', header);
  }
  return {
    ok: true,
    frame: {
      ...header,
      ...content,
      location: locationFromExtended(content.extended),
      verificationUrl: verificationUrlFromExtended(content.extended),
      crc,
      length: declared,
    },
  };
}
