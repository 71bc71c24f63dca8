/**
 * When was the gateway watching? The store's status history records changes only: it cannot
 * tell "online all night" from "the gateway was off all night". Without knowing, a restart
 * would count the gateway's own downtime as the device's online (or offline) time.
 *
 * So the health service writes, every few seconds, the span it has been watching in a small
 * JSON file next to the store: `{ from, to, devices: { <id>: <state at from> } }`. After a crash
 * (kill -9) the last write bounds the span to within one heartbeat. Spans are rebased to the
 * longest window on every write, with each device's state at the new `from`, so replaying a
 * span needs only the status records inside it.
 *
 * A missing file is an empty log; a corrupt one is logged and replaced (health figures are not
 * worth refusing to start over).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

const stateSchema = z.enum(['online', 'offline', 'unknown']);

export const observationSpanSchema = z
  .object({
    from: z.number().finite(),
    to: z.number().finite(),
    /** Devices watched in this span, each with its state at `from`. */
    devices: z.record(z.string(), stateSchema),
  })
  .refine((s) => s.to >= s.from, 'span ends before it starts');
export type ObservationSpan = z.infer<typeof observationSpanSchema>;

const fileSchema = z.object({ version: z.literal(1), spans: z.array(observationSpanSchema) });

export interface ObservationLogOptions {
  file: string;
  log: Logger;
}

export class ObservationLog {
  readonly file: string;
  private readonly log: Logger;
  private warnedWrite = false;

  constructor(opts: ObservationLogOptions) {
    this.file = opts.file;
    this.log = opts.log;
  }

  /** Spans written by earlier runs (or an earlier start of this one), oldest first. */
  load(): ObservationSpan[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: this.file, err: errorMessage(err) }, 'cannot read the health observation log; online rates start from now');
      return [];
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.log.warn({ file: this.file, err: errorMessage(err) }, 'health observation log is not JSON; online rates start from now');
      return [];
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.log.warn({ file: this.file, at: issue?.path.join('.'), err: issue?.message }, 'health observation log is not valid; online rates start from now');
      return [];
    }
    return [...parsed.data.spans].sort((a, b) => a.from - b.from);
  }

  /** Replace the log with these spans (atomically: a crash leaves the old or the new file, never half). */
  save(spans: readonly ObservationSpan[]): void {
    const tmp = `${this.file}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(tmp, JSON.stringify({ version: 1, spans }));
      renameSync(tmp, this.file);
      this.warnedWrite = false;
    } catch (err) {
      // Once per outage of the disk, not every heartbeat.
      if (!this.warnedWrite) this.log.error({ file: this.file, err: errorMessage(err) }, 'cannot write the health observation log');
      this.warnedWrite = true;
    }
  }
}
