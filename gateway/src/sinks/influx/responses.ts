/**
 * What an answer to a write means (pure; unit-tested against the answers real servers give).
 *
 *   2xx                              ok
 *   400 / 422 (bad line protocol,    bad-data: the writer drops ONLY the bad line(s) and keeps the
 *     field type conflict, points     rest. InfluxDB 1.x quotes each unparsable line
 *     beyond retention...)            (`unable to parse '<line>': <why>`), 2.x numbers them
 *                                     (`line 3: <why>`); anything else is found by bisecting.
 *   413                              too-large: split the batch, drop nothing.
 *   401 / 403                        blocked: credentials; the message names the setting to fix.
 *   404                              blocked: no such database / bucket / endpoint (settings again).
 *   other 4xx                        blocked: we cannot tell it is the data's fault, so keep it.
 *   408, 429, 5xx, network, timeout  retry with backoff.
 *
 * `blocked` and `retry` both keep the data (spooled) and try again later; the difference is the
 * message: `blocked` will not fix itself, a person must change a setting.
 */

export type InfluxApi = 'v1' | 'v2';

/** What the messages may name: the server and the settings a person would fix. */
export interface ResponseContext {
  api: InfluxApi;
  /** URL for messages (no credentials, no query). */
  url: string;
  db?: string;
  rp?: string;
  org?: string;
  bucket?: string;
  username?: string;
}

export type WriteOutcome =
  | { kind: 'ok' }
  | {
      kind: 'bad-data';
      status: number;
      message: string;
      /** Lines the server named (quoted, 1.x), with the reason. */
      quoted: Map<string, string>;
      /** 1-based line numbers the server named (2.x), with the reason. */
      numbered: Map<number, string>;
      /**
       * The server says it wrote every other line (1.x `partial write: ... dropped=0`): the named
       * lines are dropped and the rest need not be sent again.
       */
      restWritten: boolean;
    }
  | { kind: 'too-large'; status: number; message: string }
  | { kind: 'blocked'; status: number; message: string; setting: string }
  | { kind: 'retry'; status?: number; message: string }
  | { kind: 'cancelled' };

/** The error text of an answer body: 1.x `{"error": ...}`, 2.x `{"code", "message"}`, or plain text. */
export function errorText(body: string | undefined): string {
  if (!body) return '';
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    try {
      const json = JSON.parse(trimmed) as { error?: unknown; message?: unknown };
      if (typeof json.error === 'string') return json.error;
      if (typeof json.message === 'string') return json.message;
    } catch {
      // Not JSON after all: use the text.
    }
  }
  return trimmed;
}

const QUOTED_PREFIX = "unable to parse '";

/**
 * Lines quoted by InfluxDB 1.x: the message joins one `unable to parse '<line>': <why>` per bad
 * line with `\n` (our lines never contain a newline). The line may itself contain `': `, so both
 * the first and the last `': ` are tried as the end of the quote; the caller matches against the
 * lines it sent.
 */
export function quotedLines(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split('\n')) {
    const start = part.indexOf(QUOTED_PREFIX);
    if (start < 0) continue;
    const rest = part.slice(start + QUOTED_PREFIX.length);
    const ends = new Set([rest.indexOf("': "), rest.lastIndexOf("': ")]);
    for (const end of ends) {
      if (end < 0) continue;
      const reason = rest.slice(end + 3).replace(/\s+dropped=\d+\s*$/, '');
      out.set(rest.slice(0, end), reason);
    }
    // A quote at the very end (no reason after it).
    if (rest.endsWith("'")) out.set(rest.slice(0, -1), 'unable to parse');
  }
  return out;
}

/** Line numbers named by InfluxDB 2.x / 3.x: `line 3: <why>` (1-based). */
export function numberedLines(message: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of message.matchAll(/(?:^|\n|\s)line (\d+):\s*([^\n]*)/g)) {
    const n = Number(m[1]);
    if (Number.isSafeInteger(n) && n > 0 && !out.has(n)) out.set(n, (m[2] ?? '').trim());
  }
  return out;
}

function droppedCount(message: string): number | undefined {
  const m = /dropped=(\d+)\s*$/.exec(message);
  return m ? Number(m[1]) : undefined;
}

function said(status: number, ctx: ResponseContext, text: string): string {
  return `HTTP ${status} from ${ctx.url}${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`;
}

function authOutcome(status: number, text: string, ctx: ResponseContext): WriteOutcome {
  const answer = said(status, ctx, text);
  if (ctx.api === 'v2') {
    const target = `bucket "${ctx.bucket ?? '?'}" of org "${ctx.org ?? '?'}"`;
    return status === 401
      ? { kind: 'blocked', status, setting: 'influx.v2.token', message: `InfluxDB refused the token (${answer}): set influx.v2.token to a token with write access to ${target}` }
      : { kind: 'blocked', status, setting: 'influx.v2.token', message: `the token may not write to ${target} (${answer}): give it write permission or fix influx.v2.token / influx.v2.bucket / influx.v2.org` };
  }
  const who = ctx.username === undefined ? 'no user is configured' : `user "${ctx.username}"`;
  return status === 401
    ? {
        kind: 'blocked',
        status,
        setting: 'influx.v1.username/password',
        message:
          ctx.username === undefined
            ? `InfluxDB requires authentication (${answer}): set influx.v1.username and influx.v1.password`
            : `InfluxDB refused ${who} (${answer}): check influx.v1.username / influx.v1.password`,
      }
    : {
        kind: 'blocked',
        status,
        setting: 'influx.v1.username/password',
        message: `${who} may not write to database "${ctx.db ?? '?'}" (${answer}): GRANT WRITE ON "${ctx.db ?? '?'}" TO the user, or fix influx.v1.username / influx.v1.password`,
      };
}

function notFoundOutcome(status: number, text: string, ctx: ResponseContext): WriteOutcome {
  const answer = said(status, ctx, text);
  if (/database not found/i.test(text))
    return { kind: 'blocked', status, setting: 'influx.v1.db', message: `database "${ctx.db ?? '?'}" does not exist (${answer}): CREATE DATABASE "${ctx.db ?? '?'}" on the server or fix influx.v1.db` };
  if (/bucket/i.test(text) || /organization|org /i.test(text))
    return { kind: 'blocked', status, setting: 'influx.v2.bucket', message: `bucket "${ctx.bucket ?? '?'}" of org "${ctx.org ?? '?'}" not found (${answer}): fix influx.v2.bucket / influx.v2.org` };
  if (ctx.api === 'v2')
    return { kind: 'blocked', status, setting: 'influx.api', message: `the server has no /api/v2/write (${answer}): InfluxDB before 1.8 only has the v1 API, set influx.api: v1 (or fix influx.url)` };
  return { kind: 'blocked', status, setting: 'influx.url', message: `the server has no /write (${answer}): fix influx.url, or set influx.api: v2 for InfluxDB 2.x/3.x` };
}

/** Classify an HTTP answer to a write. */
export function classifyAnswer(status: number, body: string | undefined, ctx: ResponseContext): WriteOutcome {
  if (status >= 200 && status < 300) return { kind: 'ok' };
  const text = errorText(body);
  if (status === 401 || status === 403) return authOutcome(status, text, ctx);
  if (status === 404) return notFoundOutcome(status, text, ctx);
  if (status === 413) return { kind: 'too-large', status, message: said(status, ctx, text) };
  if (status === 408 || status === 429 || status >= 500) {
    const hint = /retention policy not found/i.test(text) ? ` (fix influx.v1.rp: "${ctx.rp ?? ''}" does not exist on database "${ctx.db ?? '?'}")` : '';
    return { kind: 'retry', status, message: `${said(status, ctx, text)}${hint}` };
  }
  if (status === 400 || status === 422) {
    const partial = /^partial write/i.test(text.trim());
    return {
      kind: 'bad-data',
      status,
      message: said(status, ctx, text),
      quoted: quotedLines(text),
      numbered: numberedLines(text),
      restWritten: partial && droppedCount(text) === 0,
    };
  }
  return { kind: 'blocked', status, setting: 'influx', message: `unexpected answer to a write (${said(status, ctx, text)}): check the influx settings` };
}
