/**
 * A virtual GSM modem on a socat pty pair (PtyLine): the gateway opens `path` as it would open
 * /dev/ttyUSB2 and talks AT commands to it. It answers the subset the SMS forwarder uses:
 *
 *   AT, ATE0/ATE1, ATI, AT+CMEE=n, AT+CMGF=0|1 (and ?), AT+CSCS="GSM"|"IRA"|"UCS2" (and ?),
 *   AT+CREG? (`+CREG: 0,1`), AT+CSQ (`+CSQ: 20,99`),
 *   AT+CMGS="<number>" -> `> `, text up to Ctrl-Z -> `+CMGS: <ref>` OK (ESC cancels);
 *   anything else starting with AT -> ERROR.
 *
 * Like a real modem it starts with echo on and in PDU mode (AT+CMGF=0), so a gateway that
 * forgets ATE0 / AT+CMGF=1 is caught (AT+CMGS="..." in PDU mode -> +CMS ERROR: 304). Unplugging
 * (socat killed and restarted at the same path) brings it back at those power-on defaults.
 * It works through its input in order: while it submits a message (`submitDelayMs`) or takes
 * its time over an answer (`answerDelayMs`), what arrives meanwhile waits, so answers never
 * overtake each other.
 *
 * Faults: `noNetwork` (+CREG: 0,0, +CSQ: 99,99, and AT+CMGS ends in +CMS ERROR: 331), `silent`
 * (answers nothing at all), `cmsError` (the next AT+CMGS ends in +CMS ERROR: 500; cleared
 * after one use), `unsolicitedNoise` (an unsolicited `+CMTI` line before every answer),
 * `refuseNumbers` (AT+CMGS to these numbers ends in +CMS ERROR: 500, as for a barred number).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../gateway/src/log.js';
import { epochNow } from './clock.js';
import { PtyLine } from './pty-line.js';

export interface SmsRecord {
  /** The number from AT+CMGS="...". */
  to: string;
  /** The text between the prompt and Ctrl-Z, as received. */
  text: string;
  /** When the modem accepted it (ms since epoch). */
  at: number;
  /** The message reference it answered with. */
  ref: number;
}

export interface ModemFaults {
  noNetwork: boolean;
  silent: boolean;
  cmsError: boolean;
  unsolicitedNoise: boolean;
  /** AT+CMGS to these numbers ends in +CMS ERROR: 500 (a barred number), until changed. */
  refuseNumbers: string[];
}

export interface VirtualModemOptions {
  /** Directory for the pty links; default a fresh one under os.tmpdir(), removed on stop(). */
  dir?: string;
  /** File name of the gateway-side link in `dir` (default `modem`). */
  name?: string;
  log?: Logger;
  /** How long "the network" takes to accept a message after Ctrl-Z, ms (default 20). */
  submitDelayMs?: number;
  /** How long the modem takes to answer each command, ms (default 0). */
  answerDelayMs?: number;
}

const CTRL_Z = '\x1a';
const ESC = '\x1b';
const MAX_INPUT = 1024;

export class VirtualModem {
  /** The path the gateway opens. */
  readonly path: string;
  private readonly line: PtyLine;
  private readonly log: Logger;
  private readonly ownedDir: string | undefined;
  /** How long "the network" takes to accept a message after Ctrl-Z, ms; may be changed at any time. */
  submitDelayMs: number;
  /** How long the modem takes to answer each command, ms (default 0); input waits meanwhile. */
  answerDelayMs: number;
  private readonly sent: SmsRecord[] = [];
  private readonly received: string[] = [];
  private readonly fault: ModemFaults = { noNetwork: false, silent: false, cmsError: false, unsolicitedNoise: false, refuseNumbers: [] };
  private readonly timers = new Set<NodeJS.Timeout>();
  // Power-on state of the modem.
  private echo = true;
  private textMode = false;
  private charset = 'IRA';
  private mode: 'command' | 'text' = 'command';
  /** Received characters not yet worked through (they wait while a message is being submitted). */
  private inbox = '';
  private busy = false;
  private input = '';
  private body = '';
  private to = '';
  private nextRef = 1;

  private constructor(opts: VirtualModemOptions) {
    this.log = opts.log ?? silentLogger();
    this.submitDelayMs = opts.submitDelayMs ?? 20;
    this.answerDelayMs = opts.answerDelayMs ?? 0;
    let dir = opts.dir;
    if (!dir) {
      dir = mkdtempSync(join(tmpdir(), 'shouwang-modem-'));
      this.ownedDir = dir;
    }
    this.path = join(dir, opts.name ?? 'modem');
    this.line = new PtyLine(`modem:${this.path}`, this.path, `${this.path}.sim`, (chunk) => this.onData(chunk), this.log, () => this.powerOn());
  }

  /** Create the pty pair and start answering. */
  static async start(opts: VirtualModemOptions = {}): Promise<VirtualModem> {
    const modem = new VirtualModem(opts);
    try {
      await modem.line.start();
    } catch (err) {
      await modem.stop().catch(() => undefined);
      throw err;
    }
    return modem;
  }

  /** PID of the socat process behind the pair. */
  get pid(): number | undefined {
    return this.line.pid;
  }

  /** Messages accepted so far, oldest first. */
  messages(): SmsRecord[] {
    return this.sent.map((m) => ({ ...m }));
  }

  /** Every command line received (without CR), oldest first. */
  commands(): string[] {
    return [...this.received];
  }

  faults(): ModemFaults {
    return { ...this.fault, refuseNumbers: [...this.fault.refuseNumbers] };
  }

  /** Turn faults on or off; fields not given keep their value. */
  setFault(faults: Partial<ModemFaults>): void {
    Object.assign(this.fault, faults);
    if (faults.refuseNumbers) this.fault.refuseNumbers = [...faults.refuseNumbers];
    this.log.info({ faults: this.fault }, 'virtual modem faults');
  }

  /** Pull the USB plug for `ms`: the gateway's port vanishes; the modem comes back at power-on defaults. */
  unplug(ms: number): Promise<{ downAt: number }> {
    return this.line.unplug(ms);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.line.stop();
    if (this.ownedDir) rmSync(this.ownedDir, { recursive: true, force: true });
  }

  private powerOn(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.echo = true;
    this.textMode = false;
    this.charset = 'IRA';
    this.mode = 'command';
    this.inbox = '';
    this.busy = false;
    this.input = '';
    this.body = '';
  }

  private write(text: string): void {
    this.line.write(Buffer.from(text, 'latin1'));
  }

  /** An answer: optional information lines, then the final result code. */
  private answer(lines: string[], final: string): void {
    const noise = this.fault.unsolicitedNoise ? '\r\n+CMTI: "SM",1\r\n' : '';
    this.reply(noise + lines.map((l) => `\r\n${l}\r\n`).join('') + `\r\n${final}\r\n`);
  }

  /** Write an answer after answerDelayMs; input received meanwhile waits its turn. */
  private reply(text: string): void {
    if (this.answerDelayMs <= 0) return this.write(text);
    this.busy = true;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.busy = false;
      if (!this.fault.silent) this.write(text);
      this.pump();
    }, this.answerDelayMs);
    this.timers.add(timer);
  }

  private onData(chunk: Buffer): void {
    if (this.fault.silent) return;
    this.inbox += chunk.toString('latin1');
    this.pump();
  }

  /**
   * Work through the input, one character at a time. While a message is being submitted the
   * rest waits, as in a real modem: the answer to a command typed meanwhile comes after the
   * `+CMGS` answer, never before it.
   */
  private pump(): void {
    let echo = '';
    while (this.inbox.length > 0 && !this.busy) {
      const ch = this.inbox[0]!;
      this.inbox = this.inbox.slice(1);
      if (this.mode === 'text') {
        if (ch === CTRL_Z) this.submit();
        else if (ch === ESC) this.mode = 'command';
        else {
          this.body += ch;
          if (this.echo) echo += ch;
        }
        continue;
      }
      if (this.echo) echo += ch;
      if (ch === '\r') {
        const line = this.input.trim();
        this.input = '';
        if (echo) this.write(echo);
        echo = '';
        if (line) this.command(line);
      } else if (ch !== '\n' && this.input.length < MAX_INPUT) {
        this.input += ch;
      }
    }
    if (echo) this.write(echo);
    if (this.inbox.length > MAX_INPUT) this.inbox = this.inbox.slice(-MAX_INPUT);
  }

  private command(line: string): void {
    this.received.push(line);
    const cmd = line.toUpperCase();
    // A real modem ignores what does not start with AT (line noise).
    if (!cmd.startsWith('AT')) return;
    let m: RegExpExecArray | null;
    if (cmd === 'AT' || /^AT\+CMEE=[0-2]$/.test(cmd)) return this.answer([], 'OK');
    if (cmd === 'ATE0' || cmd === 'ATE') {
      this.echo = false;
      return this.answer([], 'OK');
    }
    if (cmd === 'ATE1') {
      this.echo = true;
      return this.answer([], 'OK');
    }
    if (cmd === 'ATI') return this.answer(['Shouwang virtual modem', 'Revision: SIM-1.0'], 'OK');
    if ((m = /^AT\+CMGF=([01])$/.exec(cmd))) {
      this.textMode = m[1] === '1';
      return this.answer([], 'OK');
    }
    if (cmd === 'AT+CMGF?') return this.answer([`+CMGF: ${this.textMode ? 1 : 0}`], 'OK');
    if ((m = /^AT\+CSCS="(GSM|IRA|UCS2)"$/.exec(cmd))) {
      this.charset = m[1]!;
      return this.answer([], 'OK');
    }
    if (cmd === 'AT+CSCS?') return this.answer([`+CSCS: "${this.charset}"`], 'OK');
    if (cmd === 'AT+CREG?') return this.answer([this.fault.noNetwork ? '+CREG: 0,0' : '+CREG: 0,1'], 'OK');
    if (cmd === 'AT+CSQ') return this.answer([this.fault.noNetwork ? '+CSQ: 99,99' : '+CSQ: 20,99'], 'OK');
    if ((m = /^AT\+CMGS="(\+?[0-9]{3,20})"(,(129|145))?$/.exec(cmd))) {
      // PDU mode expects AT+CMGS=<length>: a quoted number there is a bad parameter.
      if (!this.textMode) return this.answer([], '+CMS ERROR: 304');
      this.to = m[1]!;
      this.body = '';
      this.mode = 'text';
      const noise = this.fault.unsolicitedNoise ? '\r\n+CMTI: "SM",2\r\n' : '';
      this.reply(`${noise}\r\n> `);
      return;
    }
    this.answer([], 'ERROR');
  }

  private submit(): void {
    this.mode = 'command';
    this.busy = true;
    const to = this.to;
    const text = this.body;
    this.body = '';
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.busy = false;
      this.finishSubmit(to, text);
      this.pump();
    }, this.submitDelayMs);
    this.timers.add(timer);
  }

  private finishSubmit(to: string, text: string): void {
    if (this.fault.silent) return;
    if (this.fault.noNetwork) return this.answer([], '+CMS ERROR: 331');
    if (this.fault.cmsError) {
      this.fault.cmsError = false;
      return this.answer([], '+CMS ERROR: 500');
    }
    if (this.fault.refuseNumbers.includes(to)) return this.answer([], '+CMS ERROR: 500');
    const ref = this.nextRef;
    this.nextRef = (this.nextRef % 255) + 1;
    this.sent.push({ to, text, at: Math.round(epochNow()), ref });
    this.log.info({ to, ref, text }, 'virtual modem accepted an SMS');
    this.answer([`+CMGS: ${ref}`], 'OK');
  }
}
