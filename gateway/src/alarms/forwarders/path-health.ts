/**
 * Supervision bookkeeping shared by forwarders whose health follows their last exchange (the
 * webhook, the MQTT uplink): up/down with a reason, the last successful exchange, and the
 * detection time of a loss (last good exchange -> the moment the loss is first seen; a later
 * change of reason keeps it). Reports each change through the forwarder context, never throws.
 */
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ForwarderContext, PathHealth } from './types.js';

export class PathHealthState {
  private state: PathHealth;
  /** Last successful exchange with the far end. */
  lastOkAt: number | undefined;

  constructor(
    private readonly path: string,
    private readonly type: string,
    private readonly context: ForwarderContext,
    private readonly log: Logger,
    /** How log lines name the path, e.g. `webhook path`. */
    private readonly label: string,
    /** Fields added to the up/down log lines (e.g. the URL without its query). */
    private readonly logFields: Record<string, unknown> = {},
    /** Down at start, with this reason (a path that must connect first); up by default. */
    initiallyDown?: string,
  ) {
    this.state = { path, type, up: initiallyDown === undefined, since: context.now() };
    if (initiallyDown !== undefined) this.state.reason = initiallyDown;
  }

  get up(): boolean {
    return this.state.up;
  }

  get reason(): string | undefined {
    return this.state.reason;
  }

  /** A successful exchange: remember when, and report the path up if it was down. */
  ok(): void {
    this.lastOkAt = this.context.now();
    this.set(true, undefined);
  }

  current(): PathHealth {
    return this.lastOkAt === undefined ? { ...this.state } : { ...this.state, lastOkAt: this.lastOkAt };
  }

  set(up: boolean, reason: string | undefined): void {
    const prev = this.state;
    if (prev.up === up && prev.reason === reason) return;
    const now = this.context.now();
    const next: PathHealth = { path: this.path, type: this.type, up, since: prev.up === up ? prev.since : now };
    if (reason !== undefined) next.reason = reason;
    if (!up) {
      const detectionMs = prev.up ? (this.lastOkAt === undefined ? undefined : now - this.lastOkAt) : prev.detectionMs;
      if (detectionMs !== undefined) next.detectionMs = detectionMs;
    }
    this.state = next;
    if (up) this.log.info(this.logFields, `${this.label} up`);
    else this.log.warn({ ...this.logFields, reason, detectionMs: next.detectionMs }, `${this.label} down`);
    try {
      this.context.onHealth(this.current());
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onHealth listener failed');
    }
  }
}
