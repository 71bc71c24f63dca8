/**
 * A FIFO mutex: one holder at a time, waiters served in arrival order. The bus uses it so that
 * exactly one request is on a physical line at once, whoever asks (polls, writes, scans).
 */
export class FifoLock {
  private held = false;
  private readonly waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  get queued(): number {
    return this.waiters.length;
  }

  /** Take the lock if it is free (true), without allocating a promise; false means call acquire(). */
  tryAcquire(): boolean {
    if (this.held) return false;
    this.held = true;
    return true;
  }

  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Hand the lock straight to the next waiter, so nobody can overtake it. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.held = false;
  }

  /** Reject everyone still waiting (the bus was lost or closed); the holder keeps the lock until it releases. */
  rejectWaiting(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
