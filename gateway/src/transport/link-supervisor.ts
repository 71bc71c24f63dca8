/**
 * Keeps a bus link open: opens it, notices when it is lost (USB unplugged, pty gone, TCP peer
 * restarted), reports `closed` at once so that callers fail fast, and retries every
 * `reconnectMs` until it is back, without a process restart, until close().
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import type { ByteLink, LinkFactory } from './byte-link.js';
import type { TransportState } from './types.js';

export interface SupervisorHooks {
  data(chunk: Buffer): void;
  /** A link (re)opened: protocol layers forget partial frames from the old one. */
  opened(): void;
  /** The link went away or was closed: fail whatever is in flight or queued with `err`. */
  lost(err: ShouwangError): void;
}

export class LinkSupervisor {
  private link: ByteLink | undefined;
  private current: TransportState = 'closed';
  /** True between open() and close(): while set, a lost or failed link is retried. */
  private wanted = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private everOpened = false;
  private failuresInARow = 0;
  reopens = 0;
  readonly events = new EventEmitter();

  constructor(
    private readonly busId: string,
    private readonly makeLink: LinkFactory,
    private readonly reconnectMs: number,
    private readonly log: Logger,
    private readonly hooks: SupervisorHooks,
  ) {}

  get state(): TransportState {
    return this.current;
  }

  /** Resolves on the first successful open, rejects with the first error; keeps retrying either way until close(). */
  open(): Promise<void> {
    this.wanted = true;
    if (this.current === 'open') return Promise.resolve();
    this.clearRetry();
    if (!this.attempt) this.setState('opening');
    return this.tryOpen();
  }

  async close(): Promise<void> {
    this.wanted = false;
    this.clearRetry();
    const link = this.link;
    this.link = undefined;
    if (this.attempt) await this.attempt.catch(() => undefined);
    if (link) await link.close().catch(() => undefined);
    this.setState('closed', 'closed');
    this.hooks.lost(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.busId} was closed`));
  }

  /** False when there is no open link to write to. */
  write(frame: Buffer): boolean {
    if (!this.link || this.current !== 'open') return false;
    this.link.write(frame);
    return true;
  }

  private tryOpen(): Promise<void> {
    if (this.attempt) return this.attempt;
    const link = this.makeLink();
    this.attempt = (async () => {
      try {
        await link.open({ data: this.hooks.data, lost: (reason) => this.onLost(link, reason) });
      } catch (err) {
        await link.close().catch(() => undefined);
        this.failuresInARow++;
        const msg = errorMessage(err);
        // The first failure of a series is worth a warning; the retries every second are not.
        if (this.failuresInARow === 1) this.log.warn({ target: link.target, err: msg }, 'cannot open bus, will keep retrying');
        else this.log.debug({ target: link.target, err: msg, attempt: this.failuresInARow }, 'reopen attempt failed');
        this.setState('closed', msg);
        this.scheduleRetry();
        throw new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.busId}: cannot open ${link.target}: ${msg}`, { cause: err });
      }
      if (!this.wanted) {
        // close() was called while we were opening.
        await link.close().catch(() => undefined);
        throw new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.busId} was closed while opening`);
      }
      this.link = link;
      if (this.everOpened) {
        this.reopens++;
        this.log.info({ target: link.target, failedAttempts: this.failuresInARow }, 'bus reopened');
      } else {
        this.log.info({ target: link.target }, 'bus open');
      }
      this.everOpened = true;
      this.failuresInARow = 0;
      this.hooks.opened();
      this.setState('open');
    })().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  private onLost(link: ByteLink, reason: string): void {
    if (link !== this.link) return;
    this.link = undefined;
    void link.close().catch(() => undefined);
    this.log.warn({ target: link.target, reason }, 'bus lost, will reopen');
    this.setState('closed', reason);
    this.hooks.lost(new ShouwangError(ErrorCodes.TRANSPORT_CLOSED, `bus ${this.busId} lost: ${reason}`));
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.wanted || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.wanted && this.current !== 'open') this.tryOpen().catch(() => undefined);
    }, this.reconnectMs);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private setState(state: TransportState, reason?: string): void {
    if (state === this.current) return;
    this.current = state;
    // Each listener is isolated: one that throws must not keep the others from hearing it.
    for (const listener of this.events.listeners('state')) {
      try {
        (listener as (s: TransportState, r?: string) => void)(state, reason);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'state listener threw');
      }
    }
  }
}
