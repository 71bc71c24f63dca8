/**
 * CSV as the departments that receive these files open them (PURE): RFC 4180 quoting, CRLF line
 * ends, a UTF-8 byte-order mark so that Excel shows Chinese text, and cells that a spreadsheet
 * would run as a formula (=, +, -, @, tab, CR at the start) prefixed with `'` (OWASP CSV injection).
 */

export interface CsvColumn<R> {
  /** Column id (the English header). */
  id: string;
  /** Chinese header (docs/reports.md lists both). */
  zh: string;
  value: (row: R) => string | number | boolean | null | undefined;
}

export interface CsvOptions {
  /** Header language: `en` (column ids, default) or `zh`. */
  header?: 'en' | 'zh';
  /** Start with a UTF-8 byte-order mark (default true). */
  bom?: boolean;
}

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const s = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv<R>(columns: ReadonlyArray<CsvColumn<R>>, rows: Iterable<R>, opts: CsvOptions = {}): string {
  const lines: string[] = [columns.map((c) => csvCell(opts.header === 'zh' ? c.zh : c.id)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(c.value(row))).join(','));
  return `${opts.bom === false ? '' : '\uFEFF'}${lines.join('\r\n')}\r\n`;
}

/** Local time as `2026-03-02T08:15:00+08:00`: unambiguous, and sorts as text within one zone. */
export function isoLocal(ts: number, offsetMs: number): string {
  const d = new Date(ts + offsetMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const sign = offsetMs < 0 ? '-' : '+';
  const abs = Math.abs(offsetMs) / 60_000;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
