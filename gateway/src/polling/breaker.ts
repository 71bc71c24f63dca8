/**
 * Per-device circuit breaker. After `failures` consecutive failures it opens: the device is
 * skipped, except for one probe once its backoff window has passed. A failed probe doubles the
 * window (up to maxBackoff); any success closes the breaker. So a dead slave costs the bus at
 * most one timeout per window, and its neighbours keep their rate.
 *
 * Time is passed in; the breaker keeps no timers. Requests on a bus are serialised, so "one
 * probe per window" needs no half-open state: the probe's result is known before the next pick.
 */
export interface BreakerOptions {
  failures: number;
  backoff: number;
  maxBackoff: number;
}

export type BreakerState = 'closed' | 'open';

export class CircuitBreaker {
  private consecutive = 0;
  private openState = false;
  private backoffMs: number;
  private probeAt = 0;

  constructor(private readonly options: BreakerOptions) {
    this.backoffMs = options.backoff;
  }

  get state(): BreakerState {
    return this.openState ? 'open' : 'closed';
  }

  /** When the next probe is allowed (open breaker only). */
  get nextProbeAt(): number | undefined {
    return this.openState ? this.probeAt : undefined;
  }

  /** Current backoff window, ms. */
  get backoff(): number {
    return this.backoffMs;
  }

  /** May a request go to this device now? For an open breaker: only once the window has passed (the probe). */
  allows(now: number): boolean {
    return !this.openState || now >= this.probeAt;
  }

  /** The device answered: close the breaker and forget the failures. */
  success(): void {
    this.consecutive = 0;
    this.openState = false;
    this.backoffMs = this.options.backoff;
  }

  /** A failed transaction. Returns true when this failure opened (tripped) the breaker. */
  failure(now: number): boolean {
    if (this.openState) {
      // A failed probe: wait twice as long before the next one.
      this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoff);
      this.probeAt = now + this.backoffMs;
      return false;
    }
    this.consecutive++;
    if (this.consecutive < this.options.failures) return false;
    this.openState = true;
    this.backoffMs = Math.min(this.options.backoff, this.options.maxBackoff);
    this.probeAt = now + this.backoffMs;
    return true;
  }

  /** Forget everything (the bus itself came back: failures were not the device's fault). */
  reset(): void {
    this.success();
  }
}
