/**
 * SIA DC-09 transmitter: puts one alarm from the outbox on one DC-09 path (TCP or UDP, plain or
 * AES) and reports what the receiver answered. The dispatcher owns retries and backoff; this file
 * owns the protocol:
 *
 * - The frame: ADM-CID `#acct|QEEE GG ZZZ` or SIA-DCS `#acct|Nri<group>/<code><zone>[|A<B.. R..>]`,
 *   extended data `[X…][Y…]` (location) and `[V…]` (camera URL), UTC timestamp, seq = msg.seq.
 * - The answer: ACK with our seq and account = delivered; DUH = rejected (and the path is
 *   reported down: the receiver does not accept what we send - unknown account, wrong key);
 *   NAK = our clock is off: take the receiver's time from the NAK, keep the offset for every
 *   later frame, resend at once with the same seq (at most twice per send); silence = retry.
 * - Supervision: a NULL link test every `heartbeatMs` (own sequence counter 1..9999). After
 *   `failAfter` consecutive failed exchanges (heartbeats or sends) the path is reported down with
 *   `detectionMs`; the next successful exchange reports it up again.
 *
 * The path is reported up when it starts (optimistic: the first heartbeat goes out at once, and
 * `failAfter` failures report it down). Socket work lives in dc09-link.ts.
 */
import { z } from 'zod';
import {
  buildFrame,
  contactIdData,
  locationFields,
  parseFrame,
  siaDcsData,
  verificationField,
  type Dc09ExtField,
} from '../dc09/index.js';
import { ErrorCodes, errorMessage, ShouwangError } from '../../errors.js';
import type { DeviceLocation } from '../../core/types.js';
import { Dc09Link, IGNORE } from './dc09-link.js';
import type { Forwarder, ForwarderContext, ForwarderDefinition, OutboundMessage, PathHealth, SendResult } from './types.js';

const hex = (min: number, max: number, what: string) =>
  z.string().regex(new RegExp(`^[0-9A-Fa-f]{${min},${max}}$`), `${what} must be ${min}-${max} hex digits`);

export const dc09PathSchema = z
  .object({
    id: z.string().min(1),
    type: z.literal('dc09'),
    transport: z.enum(['tcp', 'udp']),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** DC-09 receiver number `R…`; left out of the frame when absent. */
    receiver: hex(1, 6, 'receiver').optional(),
    /** DC-09 line prefix `L…`. */
    line: hex(1, 6, 'line').default('0'),
    format: z.enum(['sia-dcs', 'adm-cid']).default('sia-dcs'),
    /** AES key as hex (32/48/64 digits = AES-128/192/256): frames go out as *SIA-DCS / *ADM-CID / *NULL. */
    key: z
      .string()
      .regex(/^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/, 'key must be 32, 48 or 64 hex digits (AES-128/192/256)')
      .optional(),
    /**
     * Account the NULL supervision frames are sent for (alarms carry their own). A receiver
     * answers DUH to a NULL without a known account, so heartbeats need one.
     */
    account: hex(3, 16, 'account').optional(),
    ackTimeoutMs: z.number().int().positive().default(2000),
    /** NULL supervision interval; 0 = no heartbeats. */
    heartbeatMs: z.number().int().nonnegative().default(60_000),
    /** Consecutive failed exchanges (heartbeats or sends) before the path is reported down. */
    failAfter: z.number().int().positive().default(2),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.heartbeatMs > 0 && cfg.account === undefined) {
      ctx.addIssue({ code: 'custom', path: ['account'], message: 'account is needed for NULL heartbeats (or set heartbeatMs: 0)' });
    }
  });

export type Dc09PathConfig = z.infer<typeof dc09PathSchema>;

/** At most this many immediate resends after a NAK, per send call. */
export const MAX_NAK_RESENDS = 2;
const TEXT_MAX = 32;
/** What we put into an `|A` text: short ASCII that no DC-09 reader can mistake for a delimiter. */
const SAFE_TEXT_RE = /^[A-Za-z0-9._#/-]+$/;

/** `B3 R201` from building/room when they are short plain ASCII; undefined when nothing is. */
export function asciiLocationText(loc: DeviceLocation | undefined): string | undefined {
  if (!loc) return undefined;
  const parts: string[] = [];
  if (loc.building !== undefined && SAFE_TEXT_RE.test(loc.building)) parts.push(`B${loc.building}`);
  if (loc.room !== undefined && SAFE_TEXT_RE.test(loc.room)) parts.push(`R${loc.room}`);
  const text = parts.join(' ');
  return text === '' || text.length > TEXT_MAX ? undefined : text;
}

/** A URL percent-encoded where DC-09 cannot carry it (`[`, `]`, spaces, non-ASCII). */
export function dc09SafeUrl(url: string): string {
  return url.replace(/[^\x21-\x5a\x5c\x5e-\x7e]/gu, (c) => encodeURIComponent(c));
}

export interface AlarmFrameContent {
  id: 'SIA-DCS' | 'ADM-CID';
  data: string;
  extended: Dc09ExtField[];
  /** Parts left out because they cannot be carried (logged by the caller, never fatal). */
  dropped: string[];
}

/**
 * The data block and extended data for one outbound alarm. Pure. Throws ShouwangError
 * (PAYLOAD_INVALID) only when the core of the message - account, group, zone - cannot be
 * written; unusable extras (location, URL, event codes) are dropped or replaced by the generic
 * code and listed in `dropped`.
 */
export function alarmFrameContent(msg: OutboundMessage, format: 'sia-dcs' | 'adm-cid'): AlarmFrameContent {
  const { alarm } = msg;
  const dropped: string[] = [];
  const extended: Dc09ExtField[] = [];
  const loc = alarm.location;
  if (loc?.lat !== undefined && loc.lon !== undefined) {
    try {
      extended.push(...locationFields({ lat: loc.lat, lon: loc.lon }));
    } catch (err) {
      dropped.push(`location: ${errorMessage(err)}`);
    }
  }
  if (msg.cameraUrl !== undefined) {
    try {
      extended.push(verificationField(dc09SafeUrl(msg.cameraUrl)));
    } catch (err) {
      dropped.push(`camera URL: ${errorMessage(err)}`);
    }
  }
  const restore = alarm.kind === 'restore';
  if (format === 'adm-cid') {
    let event = alarm.code.cid;
    if (event === undefined || !Number.isInteger(event) || event < 0 || event > 999) {
      if (event !== undefined) dropped.push(`Contact ID code ${event}: not 0..999, sent as 140`);
      event = 140; // general alarm
    }
    const data = contactIdData({ account: msg.account, qualifier: restore ? 3 : 1, event, group: msg.group, zone: msg.zone });
    return { id: 'ADM-CID', data, extended, dropped };
  }
  let code = alarm.code.sia;
  if (code === undefined || !/^[A-Z]{2}$/.test(code)) {
    if (code !== undefined) dropped.push(`SIA code ${JSON.stringify(code)}: not two upper-case letters`);
    code = restore ? 'UR' : 'UA'; // untyped zone restore / alarm
  }
  checkRange(msg.group, 0, 99, 'group');
  checkRange(msg.zone, 0, 999, 'zone');
  const text = asciiLocationText(loc);
  const data = siaDcsData({
    account: msg.account,
    events: [{ code, address: String(msg.zone), area: msg.group }],
    ...(text !== undefined ? { text } : {}),
  });
  return { id: 'SIA-DCS', data, extended, dropped };
}

function checkRange(n: number, min: number, max: number, name: string): void {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `SIA-DCS ${name} ${n} must be an integer ${min}..${max}`);
  }
}

export type Dc09Answer =
  | { kind: 'ack' }
  | { kind: 'nak'; receiverTime: Date | undefined }
  | { kind: 'duh' }
  | { kind: 'ignore'; why: string };

/**
 * What one frame from the receiver means for the frame we have in flight (seq + account). Pure.
 * A NAK carries seq 0000 and no account, so it always belongs to the frame in flight; an ACK or
 * DUH must echo our sequence (a DUH to a header the receiver could not read echoes 0000).
 */
export function classifyAnswer(reply: Uint8Array, expect: { seq: number; account: string }, key?: Uint8Array): Dc09Answer {
  const parsed = parseFrame(reply, key ? { keys: () => key } : {});
  const header = parsed.ok ? parsed.frame : parsed.header;
  if (!header) return { kind: 'ignore', why: `unreadable answer: ${parsed.ok ? '' : parsed.error.message}` };
  const sameAccount = header.account === undefined || header.account.toUpperCase() === expect.account.toUpperCase();
  switch (header.id) {
    case 'NAK':
      return { kind: 'nak', receiverTime: parsed.ok ? parsed.frame.timestamp : undefined };
    case 'DUH':
      if ((header.seq === expect.seq && sameAccount) || header.seq === 0) return { kind: 'duh' };
      return { kind: 'ignore', why: `DUH for sequence ${header.seq}, not ${expect.seq}` };
    case 'ACK':
      if (header.seq !== expect.seq) return { kind: 'ignore', why: `ACK for sequence ${header.seq}, not ${expect.seq}` };
      if (!sameAccount) return { kind: 'ignore', why: `ACK for account ${header.account}, not ${expect.account}` };
      // An encrypted ACK we cannot read still names our seq and account in clear text: accepted.
      return { kind: 'ack' };
    default:
      return { kind: 'ignore', why: `${header.id} is not an answer` };
  }
}

/** NULL sequence numbers run 1..9999 and wrap to 1 (0000 is the NAK's). */
export function nextSeq(seq: number): number {
  return seq >= 9999 ? 1 : seq + 1;
}

type Exchange = { ok: true } | { ok: false; outcome: 'retry' | 'rejected'; reason: string; aborted?: boolean };

class Dc09Forwarder implements Forwarder {
  readonly path: string;
  readonly type = 'dc09';
  private readonly log: ForwarderContext['log'];
  private readonly link: Dc09Link;
  private readonly key: Buffer | undefined;
  private state: PathHealth;
  private failures = 0;
  private startedAt: number;
  /** receiver time − our time, learned from NAKs (ms). */
  private clockOffsetMs = 0;
  private heartbeatSeq = 0;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatRun: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly cfg: Dc09PathConfig,
    private readonly ctx: ForwarderContext,
  ) {
    this.path = cfg.id;
    this.log = ctx.log.child({ module: 'dc09-forwarder', path: cfg.id });
    this.key = cfg.key === undefined ? undefined : Buffer.from(cfg.key, 'hex');
    this.link = new Dc09Link({ transport: cfg.transport, host: cfg.host, port: cfg.port, log: this.log });
    this.startedAt = ctx.now();
    this.state = { path: cfg.id, type: 'dc09', up: true, since: this.startedAt };
  }

  async start(): Promise<void> {
    this.startedAt = this.ctx.now();
    this.state = { path: this.path, type: this.type, up: true, since: this.startedAt };
    this.log.info({ target: this.link.target, format: this.cfg.format, encrypted: this.key !== undefined }, 'DC-09 path started');
    if (this.cfg.heartbeatMs > 0 && this.cfg.account !== undefined) this.heartbeat(this.cfg.account);
    else if (this.cfg.heartbeatMs > 0) this.log.warn('DC-09 heartbeats off: no account configured for NULL frames');
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.heartbeatRun;
    await this.link.close();
  }

  health(): PathHealth {
    return { ...this.state };
  }

  async send(msg: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    let content: AlarmFrameContent;
    try {
      content = alarmFrameContent(msg, this.cfg.format);
    } catch (err) {
      // The message itself cannot be written in DC-09: no retry will change that, and the path is fine.
      return { outcome: 'rejected', reason: `cannot encode alarm ${msg.alarm.id} for DC-09: ${errorMessage(err)}` };
    }
    if (content.dropped.length > 0) this.log.warn({ alarm: msg.alarm.id, dropped: content.dropped }, 'DC-09: parts of the alarm left out');
    const signals = AbortSignal.any([signal, this.stopping.signal]);
    const r = await this.exchangeWithNakRetry(signals, msg.seq, msg.account, (timestamp) =>
      buildFrame({ id: content.id, seq: msg.seq, line: this.cfg.line, account: msg.account, data: content.data, extended: content.extended, timestamp, ...this.common() }),
    );
    if (r.ok) return { outcome: 'delivered', at: this.ctx.now(), detail: `ACK seq ${msg.seq}` };
    return { outcome: r.outcome, reason: r.reason };
  }

  private common(): { receiver?: string; key?: Buffer } {
    return { ...(this.cfg.receiver !== undefined ? { receiver: this.cfg.receiver } : {}), ...(this.key ? { key: this.key } : {}) };
  }

  /**
   * One exchange (with up to MAX_NAK_RESENDS clock-corrected resends), holding the link so that
   * heartbeats and alarms never interleave; updates the path health from the outcome.
   */
  private async exchangeWithNakRetry(signal: AbortSignal, seq: number, account: string, frameAt: (t: Date) => Buffer): Promise<Exchange> {
    const what = `seq ${seq} account ${account}`;
    const result = await this.link.exclusive(signal, async (): Promise<Exchange> => {
      for (let naks = 0; ; ) {
        let frame: Buffer;
        try {
          frame = frameAt(new Date(this.ctx.now() + this.clockOffsetMs));
        } catch (err) {
          // A field DC-09 cannot carry (e.g. seq outside 0..9999): the message's fault, not the path's.
          return { ok: false, outcome: 'rejected', reason: `cannot build the DC-09 frame for ${what}: ${errorMessage(err)}` };
        }
        const r = await this.link.exchange(frame, (reply) => this.answerTo(reply, seq, account), { timeoutMs: this.cfg.ackTimeoutMs, signal });
        if (!r.ok) {
          if (r.failure === 'aborted') return { ok: false, outcome: 'retry', reason: `${what}: aborted`, aborted: true };
          return this.failed(`${what}: ${r.message}`);
        }
        const answer = r.value;
        if (answer.kind === 'ack') {
          this.succeeded();
          return { ok: true };
        }
        if (answer.kind === 'duh') return this.refused(`receiver answered DUH to ${what} (unknown account, wrong key or a frame it cannot process)`);
        if (answer.receiverTime) {
          const offset = answer.receiverTime.getTime() - this.ctx.now();
          this.log.warn({ seq, offsetMs: offset }, 'DC-09 NAK: correcting our clock to the receiver time');
          this.clockOffsetMs = offset;
        }
        if (++naks > MAX_NAK_RESENDS) return this.failed(`receiver NAKed ${what} ${naks} times (timestamp refused even after correction)`);
      }
    });
    return result ?? { ok: false, outcome: 'retry', reason: `${what}: aborted while waiting for the link`, aborted: true };
  }

  private answerTo(reply: Buffer, seq: number, account: string): Exclude<Dc09Answer, { kind: 'ignore' }> | typeof IGNORE {
    const a = classifyAnswer(reply, { seq, account }, this.key);
    if (a.kind !== 'ignore') return a;
    // Typically the late ACK of an exchange that already timed out.
    this.log.warn({ seq, why: a.why }, 'DC-09 answer ignored');
    return IGNORE;
  }

  private heartbeat(account: string): void {
    if (this.stopping.signal.aborted) return;
    const seq = (this.heartbeatSeq = nextSeq(this.heartbeatSeq));
    this.heartbeatRun = this.exchangeWithNakRetry(this.stopping.signal, seq, account, (timestamp) =>
      buildFrame({ id: 'NULL', seq, line: this.cfg.line, account, data: '', timestamp, ...this.common() }),
    )
      .then((r) => {
        if (!r.ok && !r.aborted) this.log.debug({ seq, reason: r.reason }, 'DC-09 heartbeat failed');
      })
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'DC-09 heartbeat crashed'))
      .finally(() => {
        if (!this.stopping.signal.aborted) this.heartbeatTimer = setTimeout(() => this.heartbeat(account), this.cfg.heartbeatMs);
      });
  }

  private succeeded(): void {
    const now = this.ctx.now();
    this.failures = 0;
    if (this.state.up) {
      this.state = { ...this.state, lastOkAt: now };
      return;
    }
    this.report({ path: this.path, type: this.type, up: true, since: now, lastOkAt: now });
  }

  private failed(reason: string): Exchange {
    this.failures++;
    if (this.state.up && this.failures >= this.cfg.failAfter) this.down(reason);
    else this.state = { ...this.state, reason };
    return { ok: false, outcome: 'retry', reason };
  }

  private refused(reason: string): Exchange {
    if (this.state.up) this.down(reason);
    else this.state = { ...this.state, reason };
    return { ok: false, outcome: 'rejected', reason };
  }

  private down(reason: string): void {
    const now = this.ctx.now();
    const lastOkAt = this.state.lastOkAt;
    this.report({
      path: this.path,
      type: this.type,
      up: false,
      since: now,
      reason,
      ...(lastOkAt !== undefined ? { lastOkAt } : {}),
      detectionMs: now - (lastOkAt ?? this.startedAt),
    });
  }

  private report(h: PathHealth): void {
    this.state = h;
    this.log[h.up ? 'info' : 'warn']({ up: h.up, reason: h.reason, detectionMs: h.detectionMs }, `DC-09 path ${h.up ? 'up' : 'down'}`);
    try {
      this.ctx.onHealth({ ...h });
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onHealth listener threw');
    }
  }
}

export const dc09Forwarder: ForwarderDefinition<typeof dc09PathSchema> = {
  type: 'dc09',
  schema: dc09PathSchema,
  create: (config, context) => new Dc09Forwarder(config, context),
};
