/**
 * Parse a YAML file and validate it with a zod schema, reporting every problem as
 * `file:line path: message` (e.g. `gateway.yaml:14 devices[3].unitId: expected 1-247, got 300`).
 * Config files and device profiles both come through here, so their errors look alike.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { ShouwangError, type ErrorCode } from '../errors.js';

export interface LocatedIssue {
  file: string;
  line: number | undefined;
  path: string;
  message: string;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

export function formatIssue(issue: LocatedIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path === '' ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
}

/** Walk the YAML AST along `path` as far as it goes and return the line of the deepest node found. */
function lineOf(doc: Document, lines: LineCounter, path: ReadonlyArray<PropertyKey>): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = rangeLine(node, lines);
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as { value?: unknown } | null;
        return k !== null && typeof k === 'object' && String(k.value) === String(key);
      });
      if (!pair) break;
      const keyLine = rangeLine(pair.key, lines);
      if (keyLine !== undefined) best = keyLine;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      const l = rangeLine(node, lines);
      if (l !== undefined) best = l;
    } else break;
  }
  return best;
}

function rangeLine(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  if (!range) return undefined;
  return lines.linePos(range[0]).line;
}

/**
 * Flatten zod issues into the ones a technician should read. A union (a point is a Modbus, frame
 * or JSON point) that fails reports one `invalid_union` issue at the union's path, which would
 * read "points[3]: Invalid input"; we descend into the branch that came closest (fewest issues)
 * so the error names the field that is actually wrong ("points[3].type"). Unknown keys are split
 * into one issue per key, located at the key itself.
 */
export function flattenZodIssues(issues: readonly z.core.$ZodIssue[], prefix: ReadonlyArray<PropertyKey> = []): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // A branch that failed on the value's type at its root (`60 seconds` is not a number) is a
      // worse explanation than one that got further (not a duration like 5s); then fewer issues wins.
      const rootTypeMisses = (errs: readonly z.core.$ZodIssue[]) => errs.filter((e) => e.code === 'invalid_type' && e.path.length === 0).length;
      const worse = (a: readonly z.core.$ZodIssue[], b: readonly z.core.$ZodIssue[]) =>
        rootTypeMisses(a) - rootTypeMisses(b) || a.length - b.length;
      const best = issue.errors.reduce((a, b) => (worse(b, a) < 0 ? b : a));
      if (best.length > 0) {
        out.push(...flattenZodIssues(best, path));
        continue;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ ...issue, keys: [key], path: [...path, key], message: 'unknown field' });
      continue;
    }
    out.push({ ...issue, path });
  }
  return out;
}

/** Render a zod issue in the terse style technicians read: "expected 1-247, got 300". */
export function describeZodIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const message = issue.message.replace(/^(Too (small|big)|Invalid input|Invalid option): /, '');
  if (issue.code === 'unrecognized_keys') return message;
  const got = valueAt(input, issue.path);
  // Custom refinements on a whole object (a trigger) would print the object; on a scalar, show it.
  if (issue.code === 'custom' && (got === null || typeof got === 'object')) return message;
  if (got === undefined) return issue.code === 'invalid_type' ? 'required' : message;
  return `${message}, got ${JSON.stringify(got)}`;
}

function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key as string];
  }
  return cur;
}

export interface ParsedYaml {
  file: string;
  data: unknown;
  /** Line of the node at a path (for errors found after schema validation, e.g. cross references). */
  lineAt(path: ReadonlyArray<PropertyKey>): number | undefined;
}

export function parseYamlText(text: string, file: string, code: ErrorCode): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const name = basename(file);
  if (doc.errors.length > 0) {
    const issues = doc.errors.map<LocatedIssue>((e) => ({
      file: name,
      // linePos is only filled in with prettyErrors; pos (character offsets) always is.
      line: e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line,
      path: '',
      message: `YAML syntax: ${e.message.split('\n')[0]}`,
    }));
    throw new ShouwangError(code, issues.map(formatIssue).join('\n'), { details: { file, issues } });
  }
  let data: unknown;
  try {
    // Generated configs share one object among hundreds of buses through YAML aliases (yaml's
    // stringify does that); the cap still stops a runaway alias expansion.
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (err) {
    throw new ShouwangError(code, `${name}: cannot read the YAML: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { file } });
  }
  return { file: name, data, lineAt: (p) => lineOf(doc, lines, p) };
}

export function readYamlFile(file: string, code: ErrorCode): ParsedYaml {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ShouwangError(code, `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      cause: err,
    });
  }
  return parseYamlText(text, file, code);
}

/** Validate parsed YAML with a schema; throw one ShouwangError listing every issue with its line. */
export function validateYaml<S extends z.ZodType>(parsed: ParsedYaml, schema: S, code: ErrorCode): z.infer<S> {
  const result = schema.safeParse(parsed.data);
  if (result.success) return result.data;
  const issues = flattenZodIssues(result.error.issues).map<LocatedIssue>((issue) => ({
    file: parsed.file,
    line: parsed.lineAt(issue.path),
    path: formatPath(issue.path),
    message: describeZodIssue(issue, parsed.data),
  }));
  throw new ShouwangError(code, issues.map(formatIssue).join('\n'), { details: { file: parsed.file, issues } });
}

/** Throw a located error for a problem found after schema validation (unknown bus, duplicate id...). */
export function locatedError(parsed: ParsedYaml, code: ErrorCode, path: ReadonlyArray<PropertyKey>, message: string): ShouwangError {
  const issue: LocatedIssue = { file: parsed.file, line: parsed.lineAt(path), path: formatPath(path), message };
  return new ShouwangError(code, formatIssue(issue), { details: { file: parsed.file, issues: [issue] } });
}

/** Deep-freeze validated config so no module can change what another one reads. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
