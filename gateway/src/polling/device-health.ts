/**
 * One device's health as seen by its poller: circuit breaker, online/offline, counters and the
 * response-time histogram. Shared by the Modbus scheduler and the raw-serial poller (through
 * the poll engine) so both judge devices the same way.
 *
 * Online at the first good answer; offline when the breaker opens or the transport closes.
 */
import type { Availability, DeviceStatus } from '../core/types.js';
import { CircuitBreaker, type BreakerOptions } from './breaker.js';
import { ResponseTimeHistogram } from './histogram.js';
import type { DevicePollStats } from './types.js';

export class DeviceHealth {
  readonly breaker: CircuitBreaker;
  private availability: Availability | 'unknown' = 'unknown';
  private consecutiveFailures = 0;
  private success = 0;
  private failures = 0;
  private exceptions = 0;
  private timeouts = 0;
  private crcErrors = 0;
  private frameErrors = 0;
  private breakerTrips = 0;
  private lastResponseMs: number | undefined;
  private lastResponseAt: number | undefined;
  private readonly histogram = new ResponseTimeHistogram();

  constructor(
    readonly device: string,
    breaker: BreakerOptions,
    private readonly emitStatus: (status: DeviceStatus) => void,
  ) {
    this.breaker = new CircuitBreaker(breaker);
  }

  get status(): Availability | 'unknown' {
    return this.availability;
  }

  allows(now: number): boolean {
    return this.breaker.allows(now);
  }

  /** A good answer (read, write or unsolicited frame). `elapsedMs` is omitted for pushes. */
  recordSuccess(now: number, elapsedMs?: number): void {
    this.success++;
    this.consecutiveFailures = 0;
    this.breaker.success();
    if (elapsedMs !== undefined) this.recordResponse(now, elapsedMs);
    if (this.availability !== 'online') this.setAvailability('online', now, 'responding');
  }

  /** A Modbus exception reply: the device is alive (breaker closes) but the transaction failed. */
  recordException(now: number, elapsedMs: number | undefined): void {
    this.failures++;
    this.exceptions++;
    this.consecutiveFailures = 0;
    this.breaker.success();
    if (elapsedMs !== undefined) this.recordResponse(now, elapsedMs);
  }

  /**
   * No usable answer. Opens the breaker after enough in a row; the device then goes offline with
   * this reason. The reasons `timeout`, `crc` and `frame` (polling/outcome.ts) are counted apart.
   */
  recordFailure(now: number, reason: string): void {
    this.failures++;
    if (reason === 'timeout') this.timeouts++;
    else if (reason === 'crc') this.crcErrors++;
    else if (reason === 'frame') this.frameErrors++;
    this.consecutiveFailures++;
    const tripped = this.breaker.failure(now);
    if (tripped) this.breakerTrips++;
    if (this.breaker.state === 'open' && this.availability !== 'offline') this.setAvailability('offline', now, reason);
  }

  /** The bus is gone: the device cannot be reached, whatever its own health. */
  transportClosed(now: number, reason: string): void {
    if (this.availability !== 'offline') this.setAvailability('offline', now, reason);
  }

  /** The bus is back: failures during the outage were not the device's fault. Online again at its first good answer. */
  transportReopened(): void {
    this.consecutiveFailures = 0;
    this.breaker.reset();
  }

  stats(): DevicePollStats {
    const s: DevicePollStats = {
      device: this.device,
      availability: this.availability,
      success: this.success,
      failures: this.failures,
      exceptions: this.exceptions,
      timeouts: this.timeouts,
      crcErrors: this.crcErrors,
      frameErrors: this.frameErrors,
      consecutiveFailures: this.consecutiveFailures,
      breaker: this.breaker.state,
      breakerTrips: this.breakerTrips,
      responseTime: this.histogram.snapshot(),
    };
    if (this.lastResponseMs !== undefined) s.lastResponseMs = this.lastResponseMs;
    if (this.lastResponseAt !== undefined) s.lastResponseAt = this.lastResponseAt;
    const probe = this.breaker.nextProbeAt;
    if (probe !== undefined) s.nextProbeAt = probe;
    return s;
  }

  private recordResponse(now: number, elapsedMs: number): void {
    this.lastResponseMs = elapsedMs;
    this.lastResponseAt = now;
    this.histogram.record(elapsedMs);
  }

  private setAvailability(availability: Availability, now: number, reason: string): void {
    this.availability = availability;
    this.emitStatus({ device: this.device, availability, since: now, reason, consecutiveFailures: this.consecutiveFailures });
  }
}
