/**
 * What the DC-09 receiver answers to one frame - no sockets here, so every rule is testable
 * with a fake clock. The receiver (dc09-receiver.ts) only moves bytes.
 *
 * Our answers (docs/dc09.md explains the choices):
 * - CRC or length wrong: no answer. The header cannot be trusted, so there is nothing safe to
 *   echo; the transmitter retries after its ACK timeout.
 * - Responses (ACK/NAK/DUH) arriving at a receiver: no answer (never answer an answer).
 * - Intact but not processable (unreadable header or data, unknown account, no key for an
 *   encrypted frame or wrong key, plain frame for an account that has a key, unsupported ID,
 *   encrypted frame without timestamp): DUH.
 * - Timestamp outside the window (default 40 s past / 20 s future): NAK with our own time.
 * - Retransmission of an accepted message (account + ID + sequence + content): ACK again,
 *   not delivered again.
 * - Otherwise deliver to onEvent; ACK once it resolves. If onEvent throws, no ACK: the
 *   transmitter retries, and the message is not remembered as accepted.
 * - NULL (link test): ACK, never delivered; it feeds line supervision like any message.
 */
import {
  ackFrame,
  duhFrame,
  MESSAGE_IDS,
  nakFrame,
  parseContactIdData,
  parseFrame,
  parseSiaDcsData,
  RESPONSE_IDS,
  type ContactIdEvent,
  type Dc09ExtField,
  type Dc09Frame,
  type Dc09Header,
  type GeoLocation,
  type SiaDcsMessage,
} from '../alarms/dc09/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Clock } from '../polling/clock.js';
import type { Dc09AccountEntry } from './dc09-config.js';
import { RecentKeys } from './dc09-dedupe.js';
import type { LineSupervision } from './dc09-supervision.js';

export type Dc09Transport = 'tcp' | 'udp';

/** An alarm message the receiver accepted. */
export interface Dc09ReceivedEvent {
  account: string;
  id: 'SIA-DCS' | 'ADM-CID';
  seq: number;
  encrypted: boolean;
  receiver: string | undefined;
  line: string;
  /** Raw data block, e.g. `#1234|1120 01 015`. */
  data: string;
  /** Set for ADM-CID. */
  contactId: ContactIdEvent | undefined;
  /** Set for SIA-DCS. */
  sia: SiaDcsMessage | undefined;
  extended: Dc09ExtField[];
  location: GeoLocation | undefined;
  verificationUrl: string | undefined;
  /** The transmitter's timestamp, if it sent one. */
  transmitterTime: Date | undefined;
  receivedAt: Date;
  transport: Dc09Transport;
  /** `address:port` of the transmitter. */
  remote: string;
}

export type Dc09Answer = 'ack' | 'nak' | 'duh' | 'none';

export interface Dc09Outcome {
  answer: Dc09Answer;
  /** Bytes to send back; null when we stay silent. */
  reply: Buffer | null;
  /** Why, for logs and tests. */
  reason: string;
  duplicate?: boolean;
}

export interface Dc09Stats {
  frames: number;
  acked: number;
  naked: number;
  duhed: number;
  ignored: number;
  crcErrors: number;
  lengthErrors: number;
  duplicates: number;
  events: number;
  nullMessages: number;
  handlerErrors: number;
}

export interface Dc09HandlerOptions {
  accounts: ReadonlyMap<string, Dc09AccountEntry>;
  windowMs: { past: number; future: number };
  dedupeMs: number;
  clock: Clock;
  log: Logger;
  supervision: LineSupervision;
  onEvent: (ev: Dc09ReceivedEvent) => void | Promise<void>;
}

export class Dc09FrameHandler {
  readonly stats: Dc09Stats = {
    frames: 0,
    acked: 0,
    naked: 0,
    duhed: 0,
    ignored: 0,
    crcErrors: 0,
    lengthErrors: 0,
    duplicates: 0,
    events: 0,
    nullMessages: 0,
    handlerErrors: 0,
  };
  private readonly recent: RecentKeys;
  /** Messages being delivered right now, so a retransmission waits for the first delivery. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly opts: Dc09HandlerOptions) {
    this.recent = new RecentKeys(opts.dedupeMs);
  }

  async handle(bytes: Uint8Array, from: { transport: Dc09Transport; remote: string }): Promise<Dc09Outcome> {
    this.stats.frames++;
    const log = this.opts.log;
    const parsed = parseFrame(bytes, { keys: (a) => this.opts.accounts.get(a.toUpperCase())?.key });
    if (!parsed.ok) {
      const { code, message } = parsed.error;
      if (code === 'crc' || code === 'length') {
        if (code === 'crc') this.stats.crcErrors++;
        else this.stats.lengthErrors++;
        log.debug({ remote: from.remote, code }, `DC-09 frame ignored: ${message}`);
        return this.silent(`${code}: ${message}`);
      }
      if (parsed.header && isResponse(parsed.header.id)) return this.silent(`unreadable ${parsed.header.id}: ${message}`);
      return this.duh(parsed.header, `${code}: ${message}`, from);
    }
    const frame = parsed.frame;
    if (isResponse(frame.id)) return this.silent(`${frame.id} is a response, not answered`);
    const entry = frame.account === undefined ? undefined : this.opts.accounts.get(frame.account.toUpperCase());
    if (!entry) return this.duh(frame, `unknown account ${frame.account ?? '(none)'}`, from);
    if (entry.key && !frame.encrypted) return this.duh(frame, `account ${entry.account} requires encryption`, from);
    if (!(MESSAGE_IDS as readonly string[]).includes(frame.id)) return this.duh(frame, `unsupported ID ${frame.id}`, from);

    const now = this.opts.clock.now();
    if (frame.timestamp) {
      const skew = frame.timestamp.getTime() - now;
      if (skew < -this.opts.windowMs.past || skew > this.opts.windowMs.future) {
        // The frame is authentic (CRC, account, key) so the line is up, only the clock is off.
        this.opts.supervision.seen(entry.account);
        this.stats.naked++;
        log.warn({ account: entry.account, seq: frame.seq, skewMs: skew }, 'DC-09 timestamp outside window: NAK');
        return { answer: 'nak', reply: nakFrame(new Date(now)), reason: `timestamp skew ${skew} ms outside window` };
      }
    }
    this.opts.supervision.seen(entry.account);

    if (frame.id === 'NULL') {
      this.stats.nullMessages++;
      return this.ack(frame, entry, 'NULL link test');
    }

    const ev = this.toEvent(frame, entry.account, now, from);
    if (typeof ev === 'string') return this.duh(frame, ev, from);

    const key = dedupeKey(frame, entry.account);
    if (this.recent.has(key, now)) {
      this.stats.duplicates++;
      return { ...this.ack(frame, entry, 'duplicate, ACKed again'), duplicate: true };
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      this.stats.duplicates++;
      return (await pending)
        ? { ...this.ack(frame, entry, 'duplicate of a message delivered meanwhile'), duplicate: true }
        : this.silent('duplicate of a message whose delivery failed');
    }
    const delivery = this.deliver(ev);
    this.inFlight.set(key, delivery);
    let delivered: boolean;
    try {
      delivered = await delivery;
    } finally {
      this.inFlight.delete(key);
    }
    if (!delivered) return this.silent('onEvent failed; not ACKed so the transmitter retries');
    this.recent.add(key, this.opts.clock.now());
    this.stats.events++;
    return this.ack(frame, entry, 'delivered');
  }

  private async deliver(ev: Dc09ReceivedEvent): Promise<boolean> {
    try {
      await this.opts.onEvent(ev);
      return true;
    } catch (err) {
      this.stats.handlerErrors++;
      this.opts.log.error({ account: ev.account, seq: ev.seq, err: errorMessage(err) }, 'DC-09 onEvent failed; message not ACKed');
      return false;
    }
  }

  private toEvent(frame: Dc09Frame, account: string, now: number, from: { transport: Dc09Transport; remote: string }): Dc09ReceivedEvent | string {
    let contactId: ContactIdEvent | undefined;
    let sia: SiaDcsMessage | undefined;
    if (frame.id === 'ADM-CID') {
      const r = parseContactIdData(frame.data);
      if (!r.ok) return r.message;
      contactId = r.value;
    } else {
      const r = parseSiaDcsData(frame.data);
      if (!r.ok) return r.message;
      sia = r.value;
    }
    return {
      account,
      id: frame.id as 'SIA-DCS' | 'ADM-CID',
      seq: frame.seq,
      encrypted: frame.encrypted,
      receiver: frame.receiver,
      line: frame.line,
      data: frame.data,
      contactId,
      sia,
      extended: frame.extended,
      location: frame.location,
      verificationUrl: frame.verificationUrl,
      transmitterTime: frame.timestamp,
      receivedAt: new Date(now),
      transport: from.transport,
      remote: from.remote,
    };
  }

  private ack(frame: Dc09Frame, entry: Dc09AccountEntry, reason: string): Dc09Outcome {
    this.stats.acked++;
    const reply = ackFrame(frame, frame.encrypted && entry.key ? { key: entry.key, now: new Date(this.opts.clock.now()) } : {});
    return { answer: 'ack', reply, reason };
  }

  private duh(header: Dc09Header | undefined, reason: string, from: { remote: string }): Dc09Outcome {
    this.stats.duhed++;
    this.opts.log.warn({ remote: from.remote, account: header?.account, seq: header?.seq }, `DC-09 DUH: ${reason}`);
    return { answer: 'duh', reply: duhFrame(header ?? {}), reason };
  }

  private silent(reason: string): Dc09Outcome {
    this.stats.ignored++;
    return { answer: 'none', reply: null, reason };
  }
}

function isResponse(id: string): boolean {
  return (RESPONSE_IDS as readonly string[]).includes(id);
}

/** Same account, message type, sequence and content; the timestamp and pad may differ on a retry. */
function dedupeKey(frame: Dc09Frame, account: string): string {
  const ext = frame.extended.map((f) => `[${f.tag}${f.value}]`).join('');
  return `${account}\u0000${frame.id}\u0000${frame.seq}\u0000${frame.data}\u0000${ext}`;
}
