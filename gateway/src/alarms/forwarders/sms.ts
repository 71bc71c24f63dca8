/**
 * SMS through a GSM/4G modem on a serial port: the backup alarm path when the IP paths are down.
 * AT commands in text mode (AT+CMGF=1, AT+CSCS="GSM"); the message is short GSM-safe ASCII
 * (sms-text.ts): Chinese text would need UCS2 or PDU mode, which v1 does not do.
 *
 * `delivered` here means the modem accepted the message for every configured number
 * (`+CMGS: <ref>`), i.e. it was handed to the network's SMS centre. SMS has no end-to-end
 * acknowledgement in text mode without status reports; that is as far as the path can tell.
 * If some numbers accepted and a later one failed, the retry only goes to the ones still owed
 * (remembered in memory per outbox row; a restart may send a second copy, which the alarm id
 * in the text lets a reader recognise).
 *
 * Supervision: every `heartbeatMs`, `AT` + `AT+CREG?` (registered = stat 1 home or 5 roaming)
 * + `AT+CSQ` (signal; 99 = unknown / none). The path is down when the modem does not answer, the
 * port is gone, or it is not registered; up again when it answers and is registered.
 */
import { z } from 'zod';
import { ErrorCodes, errorMessage, isShouwangError } from '../../errors.js';
import { AtModem, type AtResponse } from '../../transport/at-modem.js';
import type { Forwarder, ForwarderContext, ForwarderDefinition, OutboundMessage, PathHealth, SendResult } from './types.js';
import { composeSmsText } from './sms-text.js';

/** E.164 (`+8613800138000`) or a Chinese mobile number as dialled at home (`13800138000`). */
const phoneNumber = z
  .string()
  .regex(/^(\+[1-9][0-9]{6,14}|1[3-9][0-9]{9})$/, 'phone numbers are E.164 (+8613800138000) or a Chinese mobile number (13800138000)');

export const smsPathSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids use letters, digits, - and _'),
    type: z.literal('sms'),
    /** Serial device of the modem's AT port, e.g. /dev/ttyUSB2. */
    port: z.string().min(1),
    baudRate: z.number().int().positive().default(115200),
    /** Every number gets every message; delivered = the modem accepted it for all of them. */
    numbers: z
      .array(phoneNumber)
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'a number is listed twice'),
    /** How long the modem may take to accept one message (AT+CMGS until +CMGS), ms. Other commands wait min(this, 5000). */
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** Supervision interval, ms; 0 = no heartbeat. */
    heartbeatMs: z
      .number()
      .int()
      .min(0)
      .default(60_000)
      .refine((v) => v === 0 || v >= 100, 'heartbeatMs is 0 (off) or at least 100'),
  })
  .strict();

export type SmsPathConfig = z.infer<typeof smsPathSchema>;

/** Short commands (AT, AT+CREG?) answer within milliseconds; only sending may take long. */
const SHORT_COMMAND_CAP_MS = 5000;
const REOPEN_MS = 1000;
/** Outbox rows whose partial progress (numbers already accepted) we remember. */
const MAX_REMEMBERED = 1000;

/** 3GPP TS 27.005 §3.2.5 +CMS ERROR codes an installer is likely to meet. */
const CMS_WORDS: Readonly<Record<number, string>> = {
  300: 'modem failure',
  301: 'SMS service of the modem reserved',
  302: 'operation not allowed',
  303: 'operation not supported',
  304: 'invalid PDU mode parameter (text mode not set?)',
  305: 'invalid text mode parameter',
  310: 'SIM not inserted',
  311: 'SIM PIN required',
  312: 'PH-SIM PIN required',
  313: 'SIM failure',
  314: 'SIM busy',
  315: 'SIM wrong',
  316: 'SIM PUK required',
  320: 'memory failure',
  322: 'memory full',
  330: 'SMS centre address unknown (set AT+CSCA)',
  331: 'no network service',
  332: 'network timeout',
  500: 'unknown error',
};

/** 3GPP TS 27.007 §9.2 +CME ERROR codes. */
const CME_WORDS: Readonly<Record<number, string>> = {
  3: 'operation not allowed',
  4: 'operation not supported',
  10: 'SIM not inserted',
  11: 'SIM PIN required',
  12: 'SIM PUK required',
  13: 'SIM failure',
  14: 'SIM busy',
  15: 'SIM wrong',
  30: 'no network service',
  31: 'network timeout',
  100: 'unknown error',
};

/** `+CMS ERROR: 331 (no network service)`, `ERROR`, ... in words an installer can act on. */
export function describeModemFailure(response: AtResponse): string {
  if (response.ok) return 'OK without a message reference (+CMGS)';
  const words = typeof response.cms === 'number' ? CMS_WORDS[response.cms] : typeof response.cme === 'number' ? CME_WORDS[response.cme] : undefined;
  return words ? `${response.final} (${words})` : response.final;
}

/** The modem refused because it has no network: that is path trouble, not a bad message. */
function isNetworkFailure(response: AtResponse): boolean {
  return response.cms === 331 || response.cms === 332 || response.cme === 30 || response.cme === 31;
}

const CREG_WORDS: Readonly<Record<number, string>> = {
  0: 'not registered, not searching',
  1: 'registered, home network',
  2: 'not registered, searching',
  3: 'registration denied',
  4: 'unknown',
  5: 'registered, roaming',
};

export interface Registration {
  stat: number;
  registered: boolean;
  words: string;
}

/**
 * `+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]` (answer to AT+CREG?) or the unsolicited `+CREG: <stat>`.
 * Undefined when the line is not a CREG line.
 */
export function parseCreg(lines: readonly string[]): Registration | undefined {
  for (const line of lines) {
    const m = /^\+CREG:\s*(.*)$/i.exec(line);
    if (!m) continue;
    const fields = m[1]!.split(',').map((f) => f.trim());
    const stat = Number(fields.length >= 2 ? fields[1] : fields[0]);
    if (!Number.isInteger(stat)) return undefined;
    return { stat, registered: stat === 1 || stat === 5, words: CREG_WORDS[stat] ?? `status ${stat}` };
  }
  return undefined;
}

export interface Signal {
  /** 0..31, 99 = not known or not detectable. */
  rssi: number;
  /** Received power in dBm (-113 .. -51), undefined for 99. */
  dbm?: number;
}

/** `+CSQ: <rssi>,<ber>`. */
export function parseCsq(lines: readonly string[]): Signal | undefined {
  for (const line of lines) {
    const m = /^\+CSQ:\s*(\d+)\s*,\s*(\d+)/i.exec(line);
    if (!m) continue;
    const rssi = Number(m[1]);
    return rssi >= 0 && rssi <= 31 ? { rssi, dbm: -113 + 2 * rssi } : { rssi };
  }
  return undefined;
}

class SmsForwarder implements Forwarder {
  readonly path: string;
  readonly type = 'sms';
  private readonly log: ForwarderContext['log'];
  private readonly modem: AtModem;
  private current: PathHealth;
  private heartbeat: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;
  /** ATE0 / AT+CMGF=1 / AT+CSCS="GSM" done since the port (re)opened and nothing failed since. */
  private configured = false;
  /** outbox id -> number -> message reference, for messages some numbers already accepted. */
  private readonly accepted = new Map<number, Map<string, number>>();

  constructor(
    private readonly config: SmsPathConfig,
    private readonly context: ForwarderContext,
  ) {
    this.path = config.id;
    this.log = context.log.child({ module: 'forwarder', path: config.id, type: 'sms' });
    this.current = { path: config.id, type: 'sms', up: false, since: context.now(), reason: 'not started' };
    this.modem = new AtModem({
      path: config.port,
      baudRate: config.baudRate,
      log: this.log,
      commandTimeoutMs: Math.min(config.timeoutMs, SHORT_COMMAND_CAP_MS),
      reopenMs: REOPEN_MS,
      onState: (state, reason) => {
        if (this.stopped) return;
        if (state === 'open') {
          this.configured = false;
          void this.check();
        } else if (state === 'closed') {
          this.configured = false;
          this.markDown(`modem port ${config.port} is not available: ${reason ?? 'closed'}`);
        }
      },
    });
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.modem.open();
    } catch (err) {
      // Already reported down through onState; the port is retried every REOPEN_MS.
      this.log.warn({ err: errorMessage(err) }, 'SMS modem not available, will keep trying');
    }
    if (this.modem.state === 'open') await this.check();
    if (this.config.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => void this.check(), this.config.heartbeatMs);
      this.heartbeat.unref?.();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.modem.close();
    await this.checking?.catch(() => undefined);
  }

  health(): PathHealth {
    return { ...this.current };
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    if (this.stopped) return { outcome: 'retry', reason: `SMS path ${this.path} is stopped` };
    const text = composeSmsText(message);
    const done = this.accepted.get(message.outboxId) ?? new Map<string, number>();
    try {
      // Every time, not only at start: a modem that reset itself silently is back in PDU mode.
      const refused = await this.configure(signal);
      if (refused) {
        this.remember(message.outboxId, done);
        return { outcome: 'retry', reason: refused };
      }
      for (const number of this.config.numbers) {
        if (done.has(number)) continue;
        const r = await this.modem.submitSms(number, text, { timeoutMs: this.config.timeoutMs, signal });
        if (r.ref === undefined) {
          const reason = `modem on ${this.config.port} refused the SMS to ${number}: ${describeModemFailure(r.response)}`;
          if (isNetworkFailure(r.response)) this.markDown(reason, 'send');
          this.remember(message.outboxId, done);
          return { outcome: 'retry', reason };
        }
        done.set(number, r.ref);
        this.markUp();
      }
    } catch (err) {
      this.remember(message.outboxId, done);
      if (signal.aborted) return { outcome: 'retry', reason: `SMS to ${this.path} aborted: ${errorMessage(err)}` };
      this.configured = false;
      // No answer: the modem is in trouble. A closed port was already reported by onState.
      if (isShouwangError(err, ErrorCodes.TRANSPORT_TIMEOUT)) this.markDown(errorMessage(err), 'send');
      return { outcome: 'retry', reason: errorMessage(err) };
    }
    this.accepted.delete(message.outboxId);
    const refs = [...done].map(([number, ref]) => `${number} ref ${ref}`).join(', ');
    this.log.info({ outboxId: message.outboxId, alarm: message.alarm.id, refs }, 'alarm SMS accepted by the modem');
    return { outcome: 'delivered', at: this.context.now(), detail: `SMS accepted for ${refs}` };
  }

  private remember(outboxId: number, done: Map<string, number>): void {
    if (done.size === 0) return;
    this.accepted.set(outboxId, done);
    while (this.accepted.size > MAX_REMEMBERED) this.accepted.delete(this.accepted.keys().next().value!);
  }

  /**
   * Echo off, text mode, GSM character set. Returns why the modem refused one of them, or
   * undefined when all are set; throws (TRANSPORT_*) when it does not answer.
   */
  private async configure(signal?: AbortSignal): Promise<string | undefined> {
    for (const command of ['ATE0', 'AT+CMGF=1', 'AT+CSCS="GSM"']) {
      const r = await this.modem.command(command, signal ? { signal } : {});
      if (!r.ok) {
        this.configured = false;
        return `modem on ${this.config.port} refused ${command}: ${describeModemFailure(r)}`;
      }
    }
    this.configured = true;
    return undefined;
  }

  /** One supervision round; concurrent callers share it. */
  private check(): Promise<void> {
    if (this.checking) return this.checking;
    this.checking = this.runCheck().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async runCheck(): Promise<void> {
    if (this.stopped || this.modem.state !== 'open') return;
    try {
      const refused = this.configured ? undefined : await this.configure();
      if (refused) return this.markDown(refused);
      const at = await this.modem.command('AT');
      if (!at.ok) return this.markDown(`modem on ${this.config.port} answered ${describeModemFailure(at)} to AT`);
      const cregAnswer = await this.modem.command('AT+CREG?');
      const creg = parseCreg(cregAnswer.lines);
      const csq = parseCsq((await this.modem.command('AT+CSQ')).lines);
      const signal = csq === undefined ? 'unknown' : csq.dbm === undefined ? 'none or unknown (99)' : `${csq.dbm} dBm (CSQ ${csq.rssi})`;
      if (!creg) return this.markDown(`modem on ${this.config.port} gave no registration status (AT+CREG? -> ${cregAnswer.final}); signal ${signal}`);
      if (!creg.registered) return this.markDown(`modem on ${this.config.port} is not registered on the network (${creg.words}); signal ${signal}`);
      if (csq?.dbm === undefined) this.log.warn({ signal }, 'modem registered but reports no signal level');
      this.markUp();
    } catch (err) {
      if (this.stopped) return;
      this.configured = false;
      // A closed port was already reported (with its own reason) by onState.
      if (!isShouwangError(err, ErrorCodes.TRANSPORT_CLOSED)) this.markDown(errorMessage(err));
    }
  }

  private markUp(): void {
    const now = this.context.now();
    const wasUp = this.current.up;
    this.current = { path: this.path, type: this.type, up: true, since: wasUp ? this.current.since : now, lastOkAt: now };
    if (!wasUp) {
      this.log.info('SMS path up');
      this.report();
    }
  }

  /**
   * Down (or still down for a new reason). A failed send only ever takes the path down: while it
   * is down, the reason is supervision's (port state, heartbeat), so that every dispatcher retry
   * does not report the same trouble again in other words.
   */
  private markDown(reason: string, from: 'supervision' | 'send' = 'supervision'): void {
    if (this.stopped) return;
    const now = this.context.now();
    const { lastOkAt } = this.current;
    if (this.current.up) {
      this.current = { path: this.path, type: this.type, up: false, since: now, reason };
      if (lastOkAt !== undefined) {
        this.current.lastOkAt = lastOkAt;
        this.current.detectionMs = now - lastOkAt;
      }
      this.log.warn({ reason, detectionMs: this.current.detectionMs }, 'SMS path down');
      this.report();
    } else if (from === 'supervision' && this.current.reason !== reason) {
      // Still down, for a new reason (port back but no network): worth telling.
      this.current = { ...this.current, reason };
      this.report();
    }
  }

  private report(): void {
    try {
      this.context.onHealth(this.health());
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onHealth listener threw');
    }
  }
}

export const smsForwarder: ForwarderDefinition<typeof smsPathSchema> = {
  type: 'sms',
  schema: smsPathSchema,
  create: (config, context) => new SmsForwarder(config, context),
};
