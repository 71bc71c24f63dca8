/**
 * Local wall-clock time in a site's IANA time zone (default Asia/Shanghai), for the late-night
 * window, the daily check and the 三高 report's hour × weekday. Pure (Intl only, no clock).
 *
 * Intl.DateTimeFormat is slow (microseconds per call), and the rules ask for every pass, so the
 * zone's UTC offset is cached per quarter hour of UTC time: every zone in the tz database changes
 * its offset on a quarter-hour boundary, so within one quarter the offset is constant.
 */

const QUARTER_MS = 15 * 60_000;
const DAY_MS = 86_400_000;
/** Enough quarters for a few weeks of passes; the cache is cleared when it grows beyond this. */
const MAX_CACHED = 8192;

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Days since 1970-01-01 in local time (a key for "the same local day"). */
  dayNumber: number;
}

export class LocalTime {
  private readonly format: Intl.DateTimeFormat;
  private readonly offsets = new Map<number, number>();

  constructor(readonly timeZone: string = 'Asia/Shanghai') {
    // Throws RangeError for an unknown zone: config validation has already refused it.
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Local time minus UTC at `ts`, ms (Asia/Shanghai: +8 h). */
  offsetMs(ts: number): number {
    const quarter = Math.floor(ts / QUARTER_MS);
    let off = this.offsets.get(quarter);
    if (off === undefined) {
      off = this.computeOffset(quarter * QUARTER_MS);
      if (this.offsets.size >= MAX_CACHED) this.offsets.clear();
      this.offsets.set(quarter, off);
    }
    return off;
  }

  parts(ts: number): LocalParts {
    const local = ts + this.offsetMs(ts);
    const d = new Date(local);
    const dayNumber = Math.floor(local / DAY_MS);
    // 1970-01-01 was a Thursday (ISO 4).
    const weekday = ((((dayNumber + 3) % 7) + 7) % 7) + 1;
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), weekday, dayNumber };
  }

  /** Local hour 0-23 of `ts`. */
  hour(ts: number): number {
    return Math.floor((((ts + this.offsetMs(ts)) % DAY_MS) + DAY_MS) % DAY_MS / 3_600_000);
  }

  /**
   * The first instant after `after` at local hh:mm. A wall time that a DST jump skips is taken
   * as the same time on the old offset (02:30 on a spring-forward night runs at 03:30), and a
   * wall time that occurs twice runs at the first one — as Temporal's `compatible` does.
   */
  nextAt(after: number, hh: number, mm: number): number {
    const today = this.parts(after).dayNumber;
    for (let day = today; day <= today + 2; day++) {
      const utc = this.fromWall(day * DAY_MS + hh * 3_600_000 + mm * 60_000);
      if (utc > after) return utc;
    }
    return after + DAY_MS;
  }

  /** UTC instant of a local wall time (ms of the wall clock read as if UTC). */
  fromWall(wall: number): number {
    const before = wall - this.offsetMs(wall - DAY_MS);
    const later = wall - this.offsetMs(wall + DAY_MS);
    const valid = [before, later].filter((u) => u + this.offsetMs(u) === wall);
    if (valid.length > 0) return Math.min(...valid);
    return before; // in the gap: shift forward by the jump
  }

  private computeOffset(ts: number): number {
    const p: Record<string, number> = {};
    for (const part of this.format.formatToParts(new Date(ts))) if (part.type !== 'literal') p[part.type] = Number(part.value);
    const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
    return asUtc - Math.floor(ts / 1000) * 1000;
  }
}
