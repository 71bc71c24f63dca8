/**
 * Carrying the operator's acknowledgement back to the gateway.
 *
 * When an officer presses "确认接警" or "已派警", the board records the action and, in the same
 * transaction, one outbox row per way back (alarm-board.ts `applyAction`). This module drains
 * those rows: the HTTP callback POSTs the operatorAck JSON (alarms/operator-ack.ts) to the
 * account's `ackCallback.url`, signed with auth/hmac.ts over the exact body bytes, and retries
 * with exponential backoff (plus jitter, so many stations do not retry in step) until the
 * gateway answers 2xx. The rows live in SQLite, so a receiver restart resumes the retries.
 *
 * `AckDeliveryLoop` is the generic drain (also used for the MQTT way back in intake-mqtt.ts);
 * `httpAckSender` is the HTTP half.
 */
import { errorMessage } from '../errors.js';
import { signatureHeaders } from '../auth/hmac.js';
import { operatorAckSchema, type OperatorAckMessage } from '../alarms/operator-ack.js';
import type { Logger } from '../log.js';
import type { AckChannel, AckDelivery, AlarmBoard, BoardAlarm, OperatorAction } from './alarm-board.js';
import type { AckCallbackConfig } from './receiver-config.js';

export interface AckRetryPolicy {
  /** Delay after the first failure. */
  initialMs: number;
  /** Longest delay between attempts. */
  maxMs: number;
  /** A delivery still failing this long after the action is given up (marked expired). */
  giveUpAfterMs: number;
  /** Per-attempt timeout. */
  timeoutMs: number;
}

export const DEFAULT_ACK_RETRY: AckRetryPolicy = { initialMs: 1000, maxMs: 60_000, giveUpAfterMs: 24 * 3600_000, timeoutMs: 5000 };

/**
 * The acknowledgement as the gateway's schema wants it: the alarm id when we know it, and the
 * account + seq it was delivered under when we know those (DC-09 alarms have no alarm id).
 * Validated here so a malformed ack never enters the outbox.
 */
export function buildOperatorAck(alarm: BoardAlarm, action: OperatorAction, by: string, at: number, note?: string): OperatorAckMessage {
  return operatorAckSchema.parse({
    ...(alarm.alarmId !== undefined ? { alarmId: alarm.alarmId } : {}),
    account: alarm.account,
    ...(alarm.seq !== undefined && alarm.seq >= 1 ? { seq: alarm.seq } : {}),
    action,
    by: by.slice(0, 64),
    ...(note !== undefined && note !== '' ? { note: note.slice(0, 500) } : {}),
    at,
  });
}

/** Delay before attempt `attempts + 1`: initial × 2^(attempts−1), capped, ±20 % jitter. */
export function backoffDelay(attempts: number, policy: Pick<AckRetryPolicy, 'initialMs' | 'maxMs'>, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  return Math.max(1, Math.round(base * (0.8 + 0.4 * random())));
}

export type SendOutcome = { ok: true; detail?: string } | { ok: false; error: string; permanent?: boolean };

export interface AckDeliveryLoopOptions {
  board: AlarmBoard;
  channel: AckChannel;
  send: (delivery: AckDelivery, signal: AbortSignal) => Promise<SendOutcome>;
  policy: AckRetryPolicy;
  log: Logger;
  now?: () => number;
  /** Most deliveries in flight at once. */
  concurrency?: number;
}

/** Drains one channel of the acknowledgement outbox: due rows are sent, failures rescheduled. */
export class AckDeliveryLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private again = false;
  private readonly inFlight = new Set<AbortController>();
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: AckDeliveryLoopOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log.child({ module: `ack-${opts.channel}` });
  }

  start(): void {
    this.kick();
  }

  /** New rows were queued (or the way back came up): look now instead of at the next due time. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      } else this.schedule();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const c of this.inFlight) c.abort();
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const next = this.opts.board.nextDue(this.opts.channel);
    if (next === undefined) return;
    // Cap the sleep: a timer of days is fine for Node, but a clock step should not strand a row.
    const delay = Math.min(Math.max(0, next - this.now()), 60_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, delay);
    this.timer.unref?.();
  }

  private async drain(): Promise<void> {
    const concurrency = this.opts.concurrency ?? 4;
    for (;;) {
      if (this.stopped) return;
      const due = this.opts.board.dueDeliveries(this.opts.channel, this.now(), concurrency);
      if (due.length === 0) return;
      await Promise.all(due.map((d) => this.attempt(d)));
    }
  }

  private async attempt(d: AckDelivery): Promise<void> {
    const { board, policy } = this.opts;
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(), policy.timeoutMs);
    let outcome: SendOutcome;
    try {
      outcome = await this.opts.send(d, controller.signal);
    } catch (err) {
      outcome = { ok: false, error: errorMessage(err) };
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(controller);
    }
    const now = this.now();
    if (this.stopped && !outcome.ok) return; // Not an attempt the far end saw; retried after restart.
    if (outcome.ok) {
      board.deliverySucceeded(d.id, now);
      this.log.info({ delivery: d.id, alarm: d.alarm, target: d.target, attempts: d.attempts + 1 }, 'acknowledgement delivered');
      return;
    }
    if (outcome.permanent || now - d.createdAt >= policy.giveUpAfterMs) {
      board.deliveryExpired(d.id, outcome.error, now);
      this.log.error({ delivery: d.id, alarm: d.alarm, target: d.target, err: outcome.error }, 'acknowledgement given up');
      return;
    }
    const delay = backoffDelay(d.attempts + 1, policy);
    board.deliveryFailed(d.id, outcome.error, now + delay);
    this.log.warn({ delivery: d.id, alarm: d.alarm, target: d.target, attempt: d.attempts + 1, retryInMs: delay, err: outcome.error }, 'acknowledgement not delivered; will retry');
  }
}

/**
 * The HTTP way back: POST the stored body to the account's callback URL with the HMAC headers.
 * The URL and secret are read from the current config at send time (a corrected URL applies to
 * rows queued before a restart); an account with no callback any more cannot be delivered.
 */
export function httpAckSender(
  callbackFor: (account: string) => AckCallbackConfig | undefined,
  now: () => number = Date.now,
): (d: AckDelivery, signal: AbortSignal) => Promise<SendOutcome> {
  return async (d, signal) => {
    const cb = callbackFor(d.account);
    if (!cb) return { ok: false, error: `account ${d.account} has no ackCallback configured`, permanent: true };
    let res: Response;
    try {
      res = await fetch(cb.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signatureHeaders(cb.secret, d.body, now()) },
        body: d.body,
        signal,
        redirect: 'error',
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      return { ok: false, error: `${cb.url}: ${errorMessage(err)}${cause ? ` (${errorMessage(cause)})` : ''}` };
    }
    // Drain the body so the connection can be reused; its text helps the log on failure.
    const text = await res.text().catch(() => '');
    if (res.ok) return { ok: true, detail: `HTTP ${res.status}` };
    return { ok: false, error: `${cb.url}: HTTP ${res.status} ${text.slice(0, 200)}` };
  };
}
