/**
 * Plain-text output helpers for the CLI (pure). Tables must line up in a terminal even when a
 * cell holds Chinese, so widths are counted in terminal columns, not in UTF-16 code units.
 */

/** East Asian wide and fullwidth code points take two terminal columns. */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Width of a string in terminal columns. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += isWide(ch.codePointAt(0)!) ? 2 : 1;
  return w;
}

export type Align = 'left' | 'right';

function pad(s: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}

export interface TableOptions {
  /** Per-column alignment; numbers read best right-aligned. Default left. */
  align?: readonly Align[];
  /** Text between columns. Default two spaces. */
  gap?: string;
  /** Print a dashed rule under the header. Default true. */
  rule?: boolean;
}

/** Render rows as an aligned text table (no trailing spaces). */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, opts: TableOptions = {}): string {
  const gap = opts.gap ?? '  ';
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => pad(cells[i] ?? '', w, opts.align?.[i] ?? 'left'))
      .join(gap)
      .trimEnd();
  const out = [line(headers)];
  if (opts.rule !== false) out.push(widths.map((w) => '-'.repeat(w)).join(gap));
  for (const r of rows) out.push(line(r));
  return out.join('\n');
}

/** `01 03 00 00 00 02 C4 0B` — the form technicians compare with a serial sniffer. */
export function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** `0x5357` */
export function hex16(v: number): string {
  return `0x${(v & 0xffff).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A short, stable rendering of a float: 7 significant digits (f32 precision), no exponent noise for ordinary values. */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e-4 && abs < 1e9) return String(Number(v.toPrecision(7)));
  return v.toExponential(3);
}
