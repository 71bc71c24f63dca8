/**
 * A small RFC 4180 CSV reader and writer (commas, double-quoted fields with "" escapes, CRLF or
 * LF, a UTF-8 BOM as Excel writes it). Enough for registry imports and exports; no dependency.
 */
import { AccessError } from './errors.js';

export interface CsvRow {
  /** Line of the file where the row starts (the header is line 1). */
  line: number;
  cells: string[];
}

export interface CsvTable {
  header: string[];
  rows: CsvRow[];
}

/** Parse CSV text with a header row. Blank lines are skipped. Throws AccessError('invalid') naming the line. */
export function parseCsv(text: string): CsvTable {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let startLine = 1;
  let quoted = false;
  let quoteLine = 0;
  let any = false;
  const endCell = () => {
    cells.push(cell);
    cell = '';
  };
  const endRow = () => {
    endCell();
    if (any || cells.length > 1 || cells[0] !== '') records.push({ line: startLine, cells });
    cells = [];
    any = false;
  };
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && cell === '') {
      quoted = true;
      quoteLine = line;
      any = true;
    } else if (ch === ',') {
      endCell();
      any = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      endRow();
      line++;
      startLine = line;
    } else {
      cell += ch;
    }
  }
  if (quoted) throw new AccessError('invalid', `CSV line ${quoteLine}: a quoted field is never closed`, [{ path: `line ${quoteLine}`, message: 'a quoted field is never closed' }]);
  if (cell !== '' || cells.length > 0 || any) endRow();
  const [head, ...rows] = records;
  if (!head) throw new AccessError('invalid', 'CSV is empty: expected a header row', [{ path: '', message: 'expected a header row' }]);
  return { header: head.cells.map((h) => h.trim()), rows };
}

function quote(v: string): string {
  return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV text (CRLF line ends, as the RFC and Excel expect) from a header and rows. */
export function toCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | boolean | undefined | null>>): string {
  const lines = [header.map(quote).join(','), ...rows.map((r) => r.map((v) => quote(v === undefined || v === null ? '' : String(v))).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}
