/**
 * The InfluxDB sink: listens on the event bus (points, device events, alarms, device status),
 * turns each domain object into line protocol (schema.ts) and hands it to the writer, which
 * batches, sends, and spools to the SQLite store while the database is away (writer.ts).
 *
 * Other modules write their own numbers through `writePoints` (the health metrics).
 * With `enabled: false` the sink is inert: attach, writePoints, start and stop do nothing, so
 * callers need no `if`.
 */
import type { EventBus } from '../../core/event-bus.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/store.js';
import type { InfluxConfig } from './config.js';
import { InfluxSchema, type InfluxDeviceInfo, type InfluxLine, type InfluxPointInput } from './schema.js';
import { InfluxWriter, type DeliveryReport, type InfluxWriterStats } from './writer.js';

export type { InfluxDeviceInfo, InfluxPointInput } from './schema.js';

export interface InfluxSinkOptions {
  /** The `influx:` config slice. */
  config: InfluxConfig;
  /** The gateway store: the spool lives in it (store.spool). */
  store: Pick<Store, 'spool'>;
  /** Site id: the `site` tag of every line. */
  site: string;
  /** Profile, kind and location of a configured device (undefined for unknown ids). */
  deviceInfo: (device: string) => InfluxDeviceInfo | undefined;
  log: Logger;
  now?: () => number;
  /** Called after every delivery attempt (tests watch the replay order with it). */
  onDelivery?: (report: DeliveryReport) => void;
}

export type InfluxSinkStats = ({ enabled: true } & InfluxWriterStats & { skipped: number }) | { enabled: false };

export class InfluxSink {
  private readonly writer: InfluxWriter | undefined;
  private readonly schema: InfluxSchema;
  private readonly deviceInfo: (device: string) => InfluxDeviceInfo | undefined;
  private readonly log: Logger;
  private readonly detach: Array<() => void> = [];
  /** Objects that produced no line (no fields) or could not be converted. */
  private skipped = 0;

  constructor(options: InfluxSinkOptions) {
    this.log = options.log;
    this.deviceInfo = options.deviceInfo;
    this.schema = new InfluxSchema({
      site: options.site,
      ...(options.config.measurementPrefix ? { measurementPrefix: options.config.measurementPrefix } : {}),
    });
    if (options.config.enabled) {
      this.writer = new InfluxWriter({
        config: options.config,
        spool: options.store.spool,
        log: options.log,
        ...(options.now ? { now: options.now } : {}),
        ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
      });
    }
  }

  get enabled(): boolean {
    return this.writer !== undefined;
  }

  /** Subscribe to the bus. Each listener is isolated: a conversion error is logged and counted, never thrown. */
  attach(bus: EventBus): void {
    if (!this.writer) return;
    this.detach.push(
      bus.on('points', ({ device, points }) => this.push(() => this.schema.points(device, points, this.deviceInfo(device)))),
      bus.on('event', (e) => this.push(() => one(this.schema.event(e, this.deviceInfo(e.device))))),
      bus.on('alarm', (a) => this.push(() => one(this.schema.alarm(a, this.deviceInfo(a.device))))),
      bus.on('status', (s) => this.push(() => one(this.schema.status(s, this.deviceInfo(s.device))))),
    );
  }

  /** Arbitrary points (health metrics): measurement (prefix added), tags (`site` added), fields, ts in ms. */
  writePoints(points: readonly InfluxPointInput[]): void {
    if (!this.writer) return;
    this.push(() => points.flatMap((p) => one(this.schema.custom(p))));
  }

  start(): void {
    this.writer?.start();
  }

  /** Unsubscribe, flush, let the request in flight finish, spool the rest. */
  async stop(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    await this.writer?.stop();
  }

  /** Close the open batch now (tests; shutdown does it too). */
  flush(): void {
    this.writer?.flush();
  }

  /** Wait until memory and spool are empty (tests). */
  async drained(timeoutMs: number): Promise<void> {
    await this.writer?.drained(timeoutMs);
  }

  stats(): InfluxSinkStats {
    return this.writer ? { enabled: true, ...this.writer.stats(), skipped: this.skipped } : { enabled: false };
  }

  private push(make: () => InfluxLine[]): void {
    let lines: InfluxLine[];
    try {
      lines = make();
    } catch (err) {
      this.skipped += 1;
      this.log.warn({ err: errorMessage(err) }, 'influx: cannot convert an object to line protocol; skipped');
      return;
    }
    if (lines.length === 0) {
      this.skipped += 1;
      return;
    }
    this.writer!.write(lines);
  }
}

function one(line: InfluxLine | undefined): InfluxLine[] {
  return line ? [line] : [];
}
