/**
 * Line supervision: a transmitter proves its path is up by sending something (an event or a
 * NULL link test) at least every `windowMs`. When an account stays silent that long we report
 * the line lost once, and report it restored when it speaks again.
 *
 * Supervision starts when the receiver starts, not at the first message: a panel that never
 * reports is a lost line too. Timers come from an injected Clock so tests need not wait.
 */
import type { Clock, TimerHandle } from '../polling/clock.js';

export interface SupervisionListener {
  onLost(account: string): void;
  onRestored(account: string): void;
}

interface Watched {
  windowMs: number;
  timer: TimerHandle | undefined;
  lost: boolean;
  lastSeen: number | undefined;
}

export class LineSupervision {
  private readonly watched = new Map<string, Watched>();
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly listener: SupervisionListener,
  ) {}

  watch(account: string, windowMs: number): void {
    const w: Watched = { windowMs, timer: undefined, lost: false, lastSeen: undefined };
    this.watched.set(account, w);
    this.arm(account, w);
  }

  /** A frame from `account` proved the line is up. */
  seen(account: string): void {
    const w = this.watched.get(account);
    if (!w || this.stopped) return;
    w.lastSeen = this.clock.now();
    if (w.lost) {
      w.lost = false;
      this.listener.onRestored(account);
    }
    this.arm(account, w);
  }

  isLost(account: string): boolean {
    return this.watched.get(account)?.lost ?? false;
  }

  lostAccounts(): string[] {
    return [...this.watched].filter(([, w]) => w.lost).map(([a]) => a);
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watched.values()) {
      if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
      w.timer = undefined;
    }
  }

  private arm(account: string, w: Watched): void {
    if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
    w.timer = this.clock.setTimeout(() => {
      w.timer = undefined;
      if (this.stopped || w.lost) return;
      w.lost = true;
      this.listener.onLost(account);
    }, w.windowMs);
  }
}
