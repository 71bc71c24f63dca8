/**
 * An AT command channel to a GSM/4G modem on a serial port (3GPP TS 27.007 / 27.005, text
 * mode). One command on the line at a time; responses are lines; a command ends at its final
 * result code (OK, ERROR, +CME ERROR: n, +CMS ERROR: n). AT+CMGS is the one two-step command:
 * the modem answers `> `, we write the text and Ctrl-Z, then it answers `+CMGS: <ref>` + OK.
 *
 * A modem refusing a command (ERROR, +CMS ERROR) is an answer, not an exception: command()
 * resolves with `ok: false` and the caller decides. What does throw (ShouwangError) is the
 * absence of an answer: TRANSPORT_TIMEOUT (no final result code in time) and TRANSPORT_CLOSED
 * (port missing, unplugged, closed), each naming the port and the command.
 *
 * The port is kept open by LinkSupervisor, like an RS485 bus: a USB modem that re-enumerates
 * (or a pty that goes away) is reopened every `reopenMs` until close().
 */
import type { Logger } from '../log.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import type { LinkFactory } from './byte-link.js';
import { FifoLock } from './fifo-lock.js';
import { LinkSupervisor } from './link-supervisor.js';
import { serialLink } from './serial-link.js';
import type { TransportState } from './types.js';

export interface AtModemOptions {
  /** Serial device, e.g. /dev/ttyUSB2. */
  path: string;
  baudRate: number;
  log: Logger;
  /** Default time to wait for a command's final result code, ms. Default 5000. */
  commandTimeoutMs?: number;
  /** Delay between attempts to (re)open the port, ms. Default 1000. */
  reopenMs?: number;
  /** Lines the modem sent that no command asked for (RING, +CMTI: ..., SMS Ready). */
  onUnsolicited?: (line: string) => void;
  /** The port opened, was lost or closed. */
  onState?: (state: TransportState, reason?: string) => void;
  /** Replaces the serial port (tests of the line discipline); default: serialport at `path`. */
  link?: LinkFactory;
}

export interface AtResponse {
  /** The command as written, without the CR. */
  command: string;
  /** True when the final result code was OK. */
  ok: boolean;
  /** The final result code line as received: `OK`, `ERROR`, `+CMS ERROR: 331`. */
  final: string;
  /** Information lines that belong to this command (`+CSQ: 20,99`), without echo or unsolicited lines. */
  lines: string[];
  /** The n of `+CME ERROR: n` (a number, or the text in verbose mode AT+CMEE=2). */
  cme?: number | string;
  /** The n of `+CMS ERROR: n`. */
  cms?: number | string;
}

export interface AtCallOptions {
  /** Overrides the default command timeout, ms. */
  timeoutMs?: number;
  /** Stop waiting (the caller gets a TRANSPORT_TIMEOUT); the line stays busy until the modem answers or the timeout ends. */
  signal?: AbortSignal;
}

export interface SmsSubmitResult {
  response: AtResponse;
  /** The message reference from `+CMGS: <ref>`, when the modem accepted the message. */
  ref?: number;
}

/** ESC cancels text entry after the `> ` prompt; Ctrl-Z sends. */
const CTRL_Z = '\x1a';
const ESC = '\x1b';
/** How long after an AT+CMGS timed out its late answer is still recognised as such, ms. */
const LATE_SUBMIT_WINDOW_MS = 180_000;
/** A "line" longer than this without CR/LF is noise (wrong baud rate), not a response. */
const MAX_LINE = 4096;

/** Unsolicited result codes without a `+` prefix that modems print on their own (boot, calls, SIM). */
const PLAIN_URCS = new Set(['RING', 'NO CARRIER', 'RDY', 'CALL READY', 'SMS READY', 'PB DONE', 'NORMAL POWER DOWN', 'POWERED DOWN']);

/**
 * GSM 03.38 and ASCII agree on every printable character except $ @ [ \ ] ^ _ ` { | } ~, which
 * modems map differently (or not at all) under AT+CSCS="GSM". Text mode v1 sends only the
 * characters both agree on, so the police phone shows what we meant whatever the modem does.
 */
export const GSM_SAFE_ASCII = /^[ !"#%&'()*+,\-./0-9:;<=>?A-Za-z\n\r]*$/;

/** E.164 (+8613800138000) or a national number of digits; never quotes or separators. */
const NUMBER = /^\+?[0-9]{3,20}$/;

type FinalKind = { ok: true } | { ok: false; cme?: number | string; cms?: number | string };

/** The final result code a line carries, or undefined for an information line. */
export function finalResult(line: string): FinalKind | undefined {
  if (line === 'OK') return { ok: true };
  if (line === 'ERROR') return { ok: false };
  const m = /^\+(CME|CMS) ERROR:\s*(.*)$/i.exec(line);
  if (!m) return undefined;
  const raw = m[2]!.trim();
  const value: number | string = /^\d+$/.test(raw) ? Number(raw) : raw;
  return m[1]!.toUpperCase() === 'CME' ? { ok: false, cme: value } : { ok: false, cms: value };
}

/** `AT+CREG?` -> `+CREG`; `ATE0` -> undefined (basic commands have no prefixed answer). */
function answerPrefix(command: string): string | undefined {
  const m = /^AT(\+[A-Z0-9]+|\^[A-Z0-9]+)/i.exec(command);
  return m ? m[1]!.toUpperCase() : undefined;
}

/** Does `line` belong to the command in flight, or did the modem say it on its own? */
function isUnsolicited(line: string, prefix: string | undefined): boolean {
  if (line.startsWith('+') || line.startsWith('^')) {
    const name = line.split(':', 1)[0]!.toUpperCase();
    return name !== prefix;
  }
  return PLAIN_URCS.has(line.toUpperCase());
}

interface Transaction {
  command: string;
  prefix: string | undefined;
  /** For AT+CMGS: the text still to write when the prompt comes. */
  body: string | undefined;
  phase: 'prompt' | 'final';
  lines: string[];
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  settle(result: AtResponse | Error): void;
}

export class AtModem {
  readonly path: string;
  private readonly log: Logger;
  private readonly commandTimeoutMs: number;
  private readonly supervisor: LinkSupervisor;
  private readonly lock = new FifoLock();
  private pending: Transaction | undefined;
  private rx = '';
  private lastLossReason: string | undefined;
  /**
   * Until when (ms since epoch) an AT+CMGS that timed out after its text may still answer. The
   * network can take longer than our timeout; its late `+CMGS: <ref>` + OK (or +CMS ERROR) must
   * not be read as the answer to the commands after it, or every answer after would be off by one.
   */
  private lateSubmitUntil = 0;
  /** A late `+CMGS: <ref>` was seen: the OK right after it is its final result code. */
  private lateOkOwed = false;

  constructor(private readonly opts: AtModemOptions) {
    this.path = opts.path;
    this.log = opts.log;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
    const makeLink =
      opts.link ?? (() => serialLink({ path: opts.path, baudRate: opts.baudRate, parity: 'none', dataBits: 8, stopBits: 1 }));
    this.supervisor = new LinkSupervisor(`modem ${opts.path}`, makeLink, opts.reopenMs ?? 1000, opts.log, {
      data: (chunk) => this.onData(chunk),
      opened: () => {
        this.rx = '';
        this.lastLossReason = undefined;
      },
      lost: (err) => {
        this.rx = '';
        const txn = this.pending;
        txn?.settle(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, this.closedMessage(txn.command), { cause: err, details: { port: this.path, command: txn.command } }));
      },
    });
    // The supervisor reports the raw reason (ENOENT, "port closed") with the state, before `lost`.
    this.supervisor.events.on('state', (state: TransportState, reason?: string) => {
      if (state === 'closed' && reason) this.lastLossReason = reason;
      opts.onState?.(state, reason);
    });
  }

  get state(): TransportState {
    return this.supervisor.state;
  }

  /**
   * Open the port. Rejects (TRANSPORT_CLOSED, naming the port) when the first attempt fails, and
   * keeps retrying in the background either way until close().
   */
  async open(): Promise<void> {
    try {
      await this.supervisor.open();
    } catch (err) {
      throw new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `modem port ${this.path} cannot be opened: ${rootMessage(err)}`, {
        cause: err,
        details: { port: this.path },
      });
    }
  }

  async close(): Promise<void> {
    await this.supervisor.close();
  }

  /** Send one command (`AT+CSQ`, without CR) and wait for its final result code. */
  command(command: string, opts: AtCallOptions = {}): Promise<AtResponse> {
    if (/[\r\n\x1a\x1b]/.test(command)) {
      return Promise.reject(new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `modem ${this.path}: command ${JSON.stringify(command)} contains CR, LF, ESC or Ctrl-Z`));
    }
    return this.run(command, undefined, opts);
  }

  /**
   * Submit one SMS in text mode (AT+CMGF=1 must be set): AT+CMGS="<number>", wait for `> `,
   * write the text and Ctrl-Z, wait for `+CMGS: <ref>` and the final result code. `ref` is set
   * only when the modem accepted the message.
   */
  async submitSms(number: string, text: string, opts: AtCallOptions = {}): Promise<SmsSubmitResult> {
    if (!NUMBER.test(number)) {
      throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `modem ${this.path}: ${JSON.stringify(number)} is not a phone number (digits with an optional leading +)`);
    }
    if (!GSM_SAFE_ASCII.test(text)) {
      throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, `modem ${this.path}: SMS text to ${number} has characters outside the GSM-safe ASCII set`);
    }
    const response = await this.run(`AT+CMGS="${number}"`, text, opts);
    const refLine = response.lines.find((l) => /^\+CMGS:/i.test(l));
    const m = refLine ? /^\+CMGS:\s*(\d+)/i.exec(refLine) : null;
    return m && response.ok ? { response, ref: Number(m[1]) } : { response };
  }

  private closedMessage(command: string): string {
    const why = this.lastLossReason ? `: ${this.lastLossReason}` : '';
    return `modem port ${this.path} is not open, cannot send ${command}${why}`;
  }

  private async run(command: string, body: string | undefined, opts: AtCallOptions): Promise<AtResponse> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    if (signal?.aborted) throw this.abortError(command);
    if (this.supervisor.state !== 'open') throw new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, this.closedMessage(command), { details: { port: this.path, command } });

    // Wait for the line; an abort while queued gives up at once (the lock is handed back when it comes).
    const acquired = this.lock.acquire();
    if (signal) {
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<'aborted'>((resolve) => {
        onAbort = () => resolve('aborted');
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const first = await Promise.race([acquired.then(() => 'locked' as const), aborted]);
      signal.removeEventListener('abort', onAbort!);
      if (first === 'aborted') {
        void acquired.then(() => this.lock.release());
        throw this.abortError(command);
      }
    } else {
      await acquired;
    }

    if (this.supervisor.state !== 'open') {
      this.lock.release();
      throw new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, this.closedMessage(command), { details: { port: this.path, command } });
    }
    if (signal?.aborted) {
      this.lock.release();
      throw this.abortError(command);
    }
    // The line is released when the modem has finished with this command (or the timeout ends),
    // not when the caller stops waiting: a late answer must not be read as the next command's.
    const done = this.transact(command, body, timeoutMs);
    void done.then(
      () => this.lock.release(),
      () => this.lock.release(),
    );
    if (!signal) return done;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        const txn = this.pending;
        // Still waiting for the prompt: ESC leaves text entry so the modem sends nothing, and the
        // line is free again. After the text went out the modem will answer; keep the line until then.
        if (txn && txn.command === command && txn.phase === 'prompt') {
          this.writeRaw(ESC);
          txn.settle(this.abortError(command));
        }
        reject(this.abortError(command));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([done, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
      aborted.catch(() => undefined);
      done.catch(() => undefined);
    }
  }

  private transact(command: string, body: string | undefined, timeoutMs: number): Promise<AtResponse> {
    return new Promise<AtResponse>((resolve, reject) => {
      const txn: Transaction = {
        command,
        prefix: answerPrefix(command),
        body,
        phase: body === undefined ? 'final' : 'prompt',
        lines: [],
        timeoutMs,
        timer: undefined,
        settle: (result) => {
          if (this.pending !== txn) return;
          this.pending = undefined;
          if (txn.timer) clearTimeout(txn.timer);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      txn.timer = setTimeout(() => {
        if (txn.phase === 'prompt') this.writeRaw(ESC);
        else if (body !== undefined) this.lateSubmitUntil = Date.now() + LATE_SUBMIT_WINDOW_MS;
        const what = txn.phase === 'prompt' ? `no "> " prompt for ${command}` : body !== undefined ? `no answer after the text of ${command}` : `no answer to ${command}`;
        txn.settle(new ShouwangError(ErrorCodes.TRANSPORT_TIMEOUT, `modem ${this.path}: ${what} within ${timeoutMs} ms`, { details: { port: this.path, command, timeoutMs } }));
      }, timeoutMs);
      this.pending = txn;
      this.rx = '';
      this.log.debug({ port: this.path, command }, 'AT >');
      if (!this.writeRaw(`${command}\r`)) txn.settle(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, this.closedMessage(command)));
    });
  }

  private writeRaw(text: string): boolean {
    return this.supervisor.write(Buffer.from(text, 'latin1'));
  }

  private abortError(command: string): ShouwangError {
    return new ShouwangError(ErrorCodes.TRANSPORT_TIMEOUT, `modem ${this.path}: gave up waiting for ${command} (aborted)`, { details: { port: this.path, command } });
  }

  private onData(chunk: Buffer): void {
    this.rx += chunk.toString('latin1');
    for (;;) {
      const end = this.rx.search(/[\r\n]/);
      if (end < 0) break;
      // Control characters (an echoed Ctrl-Z, line noise) are never part of a response.
      const line = this.rx.slice(0, end).replace(/[\x00-\x1f\x7f]/g, '').trim();
      this.rx = this.rx.slice(end + 1);
      if (line) this.onLine(line);
    }
    const txn = this.pending;
    if (this.rx.trimStart().startsWith('>')) {
      this.rx = '';
      if (txn?.phase === 'prompt') {
        txn.phase = 'final';
        this.log.debug({ port: this.path, command: txn.command }, 'AT prompt, sending text');
        this.writeRaw(`${txn.body ?? ''}${CTRL_Z}`);
      } else {
        // A prompt nobody asked for (a late answer to an abandoned AT+CMGS): leave text entry, or
        // the modem would take our next commands as message text.
        this.log.warn({ port: this.path }, 'modem is waiting for message text nobody sends; cancelling with ESC');
        this.writeRaw(ESC);
      }
    }
    if (this.rx.length > MAX_LINE) {
      this.log.warn({ port: this.path, bytes: this.rx.length }, 'modem sent a very long line without CR/LF; dropped (wrong baud rate?)');
      this.rx = '';
    }
  }

  private onLine(line: string): void {
    if (this.isLateSubmitAnswer(line)) return;
    const txn = this.pending;
    if (!txn) return this.unsolicited(line);
    // Echo (ATE1, before our ATE0 lands): the command, or the SMS text after the prompt.
    if (line.toUpperCase() === txn.command.toUpperCase() || (txn.body !== undefined && line === txn.body.replace(/[\r\n]/g, '').trim())) return;
    const final = finalResult(line);
    if (final) {
      this.log.debug({ port: this.path, command: txn.command, final: line }, 'AT <');
      const response: AtResponse = { command: txn.command, ok: final.ok, final: line, lines: txn.lines };
      if (!final.ok && final.cme !== undefined) response.cme = final.cme;
      if (!final.ok && final.cms !== undefined) response.cms = final.cms;
      txn.settle(response);
      return;
    }
    if (isUnsolicited(line, txn.prefix)) return this.unsolicited(line);
    txn.lines.push(line);
  }

  /** Consume the late answer of an AT+CMGS that timed out (see lateSubmitUntil). */
  private isLateSubmitAnswer(line: string): boolean {
    if (this.lateOkOwed) {
      this.lateOkOwed = false;
      if (line === 'OK') return true;
    }
    if (this.lateSubmitUntil === 0) return false;
    if (Date.now() > this.lateSubmitUntil) {
      this.lateSubmitUntil = 0;
      return false;
    }
    const txn = this.pending;
    // While our own AT+CMGS waits for its answer, a +CMGS / +CMS ERROR is its own.
    if (txn?.body !== undefined && txn.phase === 'final') return false;
    const submitted = /^\+CMGS:/i.test(line);
    // +CMS ERROR comes only from SMS commands (27.005): with none of ours in flight it is the late one.
    const refused = /^\+CMS ERROR:/i.test(line) && !(txn && /^AT\+CM[GSM]/i.test(txn.command));
    if (!submitted && !refused) return false;
    this.lateSubmitUntil = 0;
    this.lateOkOwed = submitted;
    this.log.warn(
      { port: this.path, line },
      submitted ? 'late answer to an AT+CMGS that had timed out: that message was sent after all' : 'late refusal of an AT+CMGS that had timed out',
    );
    return true;
  }

  private unsolicited(line: string): void {
    this.log.debug({ port: this.path, line }, 'modem unsolicited line');
    try {
      this.opts.onUnsolicited?.(line);
    } catch (err) {
      this.log.error({ port: this.path, err: errorMessage(err) }, 'unsolicited-line listener threw');
    }
  }
}

/** The innermost message of an error chain (serialport wraps ENOENT in its own text). */
function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  return errorMessage(e);
}
