/**
 * The DC-09 timestamp `_HH:MM:SS,MM-DD-YYYY`, always UTC (the spec's "GMT"). Pure.
 */
const TIMESTAMP_RE = /^_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/;

/** Length of a timestamp including its leading underscore. */
export const TIMESTAMP_LENGTH = '_HH:MM:SS,MM-DD-YYYY'.length;

function two(n: number): string {
  return String(n).padStart(2, '0');
}

export function formatTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid Date for a DC-09 timestamp');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} does not fit a DC-09 timestamp`);
  return (
    `_${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())},` +
    `${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}-${String(year).padStart(4, '0')}`
  );
}

/**
 * Parses `_HH:MM:SS,MM-DD-YYYY` (with the underscore). Returns undefined unless every field is
 * in range and names a real calendar day (no 02-30, no 24:00:00): a receiver must not
 * "normalise" a broken timestamp into a different moment and then accept it.
 */
export function parseTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return undefined;
  const [hh, mi, ss, mo, dd, yyyy] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (hh > 23 || mi > 59 || ss > 59 || mo < 1 || mo > 12 || dd < 1) return undefined;
  const date = new Date(Date.UTC(yyyy, mo - 1, dd, hh, mi, ss));
  // Date.UTC maps years 0..99 to 1900..1999; set the year explicitly.
  date.setUTCFullYear(yyyy, mo - 1, dd);
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== dd) return undefined;
  return date;
}
