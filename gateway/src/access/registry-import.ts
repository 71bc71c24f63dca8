/**
 * Bulk import into the registry: a building's rooms, its tenants and their credentials in one
 * go, from JSON or CSV. All or nothing: every row is checked (schema, references, duplicates,
 * overlapping leases — the same checks as one-by-one creation, because it *is* one-by-one
 * creation) inside one transaction; if any row fails, the transaction is rolled back and the
 * answer lists every failing row and field. Nothing partial is ever written.
 *
 * Order: buildings, rooms, tenants, credentials, so a file may create a room and the credential
 * that points to it. Existing ids are refused (imports create; use the API to change things).
 *
 * CSV columns (header row required; columns in any order; empty cell = not given):
 *   buildings    id, site, name, address
 *   rooms        id, building, number, floor, doors, linkageGroup      doors separated by ';'
 *   tenants      id, name, idNumber, phone, note
 *   credentials  id, tenant, room, kind, door, slot, cardNumber, duress, validFrom, validTo, state
 * duress: true/false, 1/0, yes/no, 是/否. validFrom/validTo: epoch ms, or ISO 8601
 * (`2025-03-01`, `2025-03-01T08:00`, `2025-03-01T08:00:00Z`); without a zone the time is China
 * Standard Time (UTC+8). Any column for biometrics, photos or PINs is refused.
 *
 * Rows are numbered as a person finds them: the CSV line (header = line 1), or the 1-based
 * position in a JSON array.
 */
import { z } from 'zod';
import { parseCsv } from './csv.js';
import { AccessError, invalid, type AccessIssue } from './errors.js';
import { forbiddenFields, isForbiddenKey, FORBIDDEN_REASON } from './forbidden-fields.js';
import type { Registry } from './registry.js';

export const IMPORT_KINDS = ['buildings', 'rooms', 'tenants', 'credentials'] as const;
export const importKindSchema = z.enum(IMPORT_KINDS);
export type ImportKind = z.infer<typeof importKindSchema>;

export const CSV_COLUMNS: Readonly<Record<ImportKind, readonly string[]>> = {
  buildings: ['id', 'site', 'name', 'address'],
  rooms: ['id', 'building', 'number', 'floor', 'doors', 'linkageGroup'],
  tenants: ['id', 'name', 'idNumber', 'phone', 'note'],
  credentials: ['id', 'tenant', 'room', 'kind', 'door', 'slot', 'cardNumber', 'duress', 'validFrom', 'validTo', 'state'],
};

export const MAX_IMPORT_ROWS = 100_000;

export interface ImportRow {
  /** Row number as a person finds it (CSV line, or 1-based JSON position). */
  row: number;
  data: Record<string, unknown>;
}

export type ImportBatch = Partial<Record<ImportKind, ImportRow[]>>;

export interface ImportResult {
  created: Record<ImportKind, number>;
}

/** `{ buildings: [...], rooms: [...], ... }` (any subset), or a plain array of one `kind`. */
export function batchFromJson(body: unknown, kind?: ImportKind): ImportBatch {
  const rowsOf = (k: string, list: unknown): ImportRow[] => {
    if (!Array.isArray(list)) throw invalid('import', [{ path: k, message: 'expected an array of rows' }]);
    return list.map((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        throw invalid('import', [{ path: `${k}.${i + 1}`, message: 'expected an object' }]);
      }
      return { row: i + 1, data: coerceTimes(item as Record<string, unknown>) };
    });
  };
  if (Array.isArray(body)) {
    if (!kind) throw invalid('import', [{ path: 'type', message: `a JSON array needs ?type=${IMPORT_KINDS.join('|')}` }]);
    return { [kind]: rowsOf(kind, body) };
  }
  if (body === null || typeof body !== 'object') throw invalid('import', [{ path: '', message: `expected a JSON array or an object with ${IMPORT_KINDS.join(', ')}` }]);
  const unknown = Object.keys(body).filter((k) => !(IMPORT_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw invalid('import', unknown.map((k) => ({ path: k, message: `unknown section (expected ${IMPORT_KINDS.join(', ')})` })));
  const batch: ImportBatch = {};
  for (const k of IMPORT_KINDS) {
    const list = (body as Record<string, unknown>)[k];
    if (list !== undefined) batch[k] = rowsOf(k, list);
  }
  return batch;
}

/** CSV text of one kind -> rows, with cells converted to the types the schemas expect. */
export function batchFromCsv(text: string, kind: ImportKind): ImportBatch {
  const { header, rows } = parseCsv(text);
  const issues: AccessIssue[] = [];
  const known = CSV_COLUMNS[kind];
  header.forEach((h, i) => {
    if (isForbiddenKey(h)) issues.push({ path: `${kind}.header.${h}`, message: `column "${h}" refused: ${FORBIDDEN_REASON}` });
    else if (!known.includes(h)) issues.push({ path: `${kind}.header.${h}`, message: `unknown column "${h}" (column ${i + 1}); ${kind} columns are: ${known.join(', ')}` });
  });
  const dup = header.filter((h, i) => header.indexOf(h) !== i);
  for (const h of new Set(dup)) issues.push({ path: `${kind}.header.${h}`, message: `column "${h}" appears twice` });
  if (!header.includes('id')) issues.push({ path: `${kind}.header`, message: 'the id column is required' });
  if (issues.length > 0) throw invalid(`${kind} CSV header`, issues);
  const out: ImportRow[] = [];
  for (const r of rows) {
    if (r.cells.length !== header.length) {
      issues.push({ path: `${kind}.${r.line}`, message: `line ${r.line} has ${r.cells.length} cells; the header has ${header.length}` });
      continue;
    }
    const data: Record<string, unknown> = {};
    header.forEach((h, i) => {
      const cell = r.cells[i]!.trim();
      if (cell !== '') data[h] = cell;
    });
    out.push({ row: r.line, data: coerceCells(kind, data) });
  }
  if (issues.length > 0) throw invalid(`${kind} CSV`, issues);
  return { [kind]: out };
}

/**
 * Create everything in `batch` in one transaction, or nothing. Throws AccessError('invalid')
 * listing every failing row (path `<kind>.<row>.<field>`).
 */
export function importBatch(registry: Registry, batch: ImportBatch, by: string): ImportResult {
  const total = IMPORT_KINDS.reduce((n, k) => n + (batch[k]?.length ?? 0), 0);
  if (total === 0) throw invalid('import', [{ path: '', message: 'nothing to import' }]);
  if (total > MAX_IMPORT_ROWS) throw invalid('import', [{ path: '', message: `at most ${MAX_IMPORT_ROWS} rows per import, got ${total}` }]);
  const created: Record<ImportKind, number> = { buildings: 0, rooms: 0, tenants: 0, credentials: 0 };
  const issues: AccessIssue[] = [];
  const create: Record<ImportKind, (data: Record<string, unknown>) => void> = {
    buildings: (d) => registry.createBuilding(d as never),
    rooms: (d) => registry.createRoom(d as never),
    tenants: (d) => registry.createTenant(d as never),
    credentials: (d) => registry.createCredential(d as never, by, 'import'),
  };
  registry.transaction(() => {
    for (const kind of IMPORT_KINDS) {
      for (const { row, data } of batch[kind] ?? []) {
        const forbidden = forbiddenFields(data);
        if (forbidden.length > 0) {
          issues.push(...forbidden.map((f) => ({ path: `${kind}.${row}.${f.path}`, message: f.message })));
          continue;
        }
        try {
          create[kind](data);
          created[kind]++;
        } catch (err) {
          if (!(err instanceof AccessError)) throw err;
          const label = typeof data.id === 'string' ? `${data.id}: ` : '';
          if (err.issues.length === 0) issues.push({ path: `${kind}.${row}`, message: `${label}${err.message}` });
          else issues.push(...err.issues.map((i) => ({ path: [kind, String(row), i.path].filter((p) => p !== '').join('.'), message: `${label}${i.message}` })));
        }
      }
    }
    // Throwing inside the transaction rolls every row back.
    if (issues.length > 0) throw invalid('import (nothing was written)', issues);
  });
  return { created };
}

// ---- cell conversion ------------------------------------------------------------------------

const CST_OFFSET = '+08:00';

/** epoch ms | ISO date | ISO date-time (zone optional, default UTC+8) -> epoch ms; anything else is returned unchanged (the schema names it). */
export function parseTime(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s);
  let iso = s;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) iso = `${s}T00:00:00${CST_OFFSET}`;
  else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) iso = `${s.replace(' ', 'T')}${CST_OFFSET}`;
  else if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) return v;
  const t = Date.parse(iso.replace(' ', 'T'));
  return Number.isNaN(t) ? v : t;
}

function coerceTimes(d: Record<string, unknown>): Record<string, unknown> {
  const out = { ...d };
  for (const k of ['validFrom', 'validTo']) if (k in out) out[k] = parseTime(out[k]);
  return out;
}

const TRUE = new Set(['true', '1', 'yes', 'y', '是']);
const FALSE = new Set(['false', '0', 'no', 'n', '否']);

function coerceCells(kind: ImportKind, d: Record<string, unknown>): Record<string, unknown> {
  const out = { ...d };
  if (kind === 'rooms' && typeof out.doors === 'string') {
    out.doors = out.doors
      .split(/[;|]/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (kind === 'credentials') {
    if (typeof out.slot === 'string' && /^\d+$/.test(out.slot)) out.slot = Number(out.slot);
    if (typeof out.duress === 'string') {
      const v = out.duress.toLowerCase();
      if (TRUE.has(v)) out.duress = true;
      else if (FALSE.has(v)) out.duress = false;
    }
    return coerceTimes(out);
  }
  return out;
}
