/**
 * What InfluxDB answers mean (responses.ts) and how a batch with bad lines is delivered
 * (delivery.ts): only the bad lines are dropped, found from the server's message when it names
 * them and by bisection when it does not; retries stop with the unsent rest, in order.
 *
 * The answer bodies are the ones InfluxDB 1.6 gave in test/integration/influx-writer.test.ts;
 * the fake servers below implement the three behaviours seen in the field.
 */
import { describe, expect, it } from 'vitest';
import { deliverLines } from '../../gateway/src/sinks/influx/delivery.js';
import { classifyAnswer, errorText, numberedLines, quotedLines, type ResponseContext, type WriteOutcome } from '../../gateway/src/sinks/influx/responses.js';

const v1: ResponseContext = { api: 'v1', url: 'http://127.0.0.1:8086', db: 'shouwang', username: 'gw' };
const v2: ResponseContext = { api: 'v2', url: 'http://127.0.0.1:8086', org: 'village', bucket: 'telemetry' };

describe('influx answers', () => {
  it('reads the quoted lines of an InfluxDB 1.x partial write, and that the rest was written', () => {
    const body = JSON.stringify({
      error: "partial write: unable to parse 'm,a=1 v= 1700000000001': missing field value\nunable to parse 'bad line here': invalid field format dropped=0",
    });
    const o = classifyAnswer(400, body, v1);
    expect(o.kind).toBe('bad-data');
    if (o.kind !== 'bad-data') return;
    expect([...o.quoted]).toEqual([
      ['m,a=1 v= 1700000000001', 'missing field value'],
      ['bad line here', 'invalid field format'],
    ]);
    expect(o.restWritten).toBe(true);
  });

  it('does not assume the rest was written when nothing was (all lines bad) or points were dropped', () => {
    const allBad = classifyAnswer(400, JSON.stringify({ error: "unable to parse 'bad line here': invalid field format\nunable to parse 'also bad': invalid field format" }), v1);
    expect(allBad.kind === 'bad-data' && !allBad.restWritten && allBad.quoted.size === 2).toBe(true);
    const conflict = classifyAnswer(
      400,
      JSON.stringify({ error: 'partial write: field type conflict: input field "v" on measurement "m" is type string, already exists as type float dropped=1' }),
      v1,
    );
    expect(conflict.kind === 'bad-data' && !conflict.restWritten && conflict.quoted.size === 0).toBe(true);
    const whole = classifyAnswer(400, JSON.stringify({ error: 'field type conflict' }), v1);
    expect(whole.kind === 'bad-data' && whole.quoted.size === 0 && whole.numbered.size === 0).toBe(true);
  });

  it("finds a quoted line that itself contains `': `", () => {
    const line = `m,a=1 s="it': odd" 5`;
    const q = quotedLines(`unable to parse '${line}': bad timestamp`);
    expect(q.get(line)).toBe('bad timestamp');
  });

  it('reads the line numbers of InfluxDB 2.x errors', () => {
    const body = JSON.stringify({ code: 'invalid', message: 'failed to parse line protocol:\nerrors encountered on line(s):\nline 2: expected field\nline 5: invalid boolean' });
    expect(errorText(body)).toContain('line 2');
    expect([...numberedLines(errorText(body))]).toEqual([
      [2, 'expected field'],
      [5, 'invalid boolean'],
    ]);
  });

  it('names the setting to fix on auth failures', () => {
    const o = classifyAnswer(401, JSON.stringify({ error: 'authorization failed' }), v1);
    expect(o).toMatchObject({ kind: 'blocked', setting: 'influx.v1.username/password' });
    expect(o.kind === 'blocked' && o.message).toMatch(/refused user "gw".*influx\.v1\.username \/ influx\.v1\.password/);
    const noUser = classifyAnswer(401, JSON.stringify({ error: 'unable to parse authentication credentials' }), { ...v1, username: undefined });
    expect(noUser.kind === 'blocked' && noUser.message).toMatch(/set influx\.v1\.username and influx\.v1\.password/);
    const token = classifyAnswer(401, JSON.stringify({ code: 'unauthorized', message: 'unauthorized access' }), v2);
    expect(token).toMatchObject({ kind: 'blocked', setting: 'influx.v2.token' });
    expect(token.kind === 'blocked' && token.message).toMatch(/influx\.v2\.token.*bucket "telemetry" of org "village"/);
    expect(classifyAnswer(403, '', v1)).toMatchObject({ kind: 'blocked', setting: 'influx.v1.username/password' });
  });

  it('names the setting on a missing database, bucket or API', () => {
    expect(classifyAnswer(404, JSON.stringify({ error: 'database not found: "shouwang"' }), v1)).toMatchObject({ kind: 'blocked', setting: 'influx.v1.db' });
    expect(classifyAnswer(404, JSON.stringify({ code: 'not found', message: 'bucket "telemetry" not found' }), v2)).toMatchObject({ kind: 'blocked', setting: 'influx.v2.bucket' });
    expect(classifyAnswer(404, '404 page not found', v2)).toMatchObject({ kind: 'blocked', setting: 'influx.api' });
  });

  it('retries 5xx, 408 and 429, with a hint for a missing retention policy; splits on 413', () => {
    expect(classifyAnswer(503, 'busy', v1).kind).toBe('retry');
    expect(classifyAnswer(429, '', v1).kind).toBe('retry');
    expect(classifyAnswer(408, '', v1).kind).toBe('retry');
    const rp = classifyAnswer(500, JSON.stringify({ error: 'retention policy not found: weekly' }), { ...v1, rp: 'weekly' });
    expect(rp.kind === 'retry' && rp.message).toMatch(/fix influx\.v1\.rp/);
    expect(classifyAnswer(413, '', v1).kind).toBe('too-large');
    expect(classifyAnswer(418, '', v1).kind).toBe('blocked');
    expect(classifyAnswer(204, '', v1).kind).toBe('ok');
  });
});

// --- fake servers for the delivery algorithm ---------------------------------------------------

type Style = 'v1-quoting' | 'v2-numbering' | 'opaque';

/**
 * A server that refuses lines containing `BAD`:
 *   v1-quoting: writes the good lines, answers 400 `partial write: unable to parse '<line>': ... dropped=0`
 *   v2-numbering: writes nothing, answers 400 naming `line N:`
 *   opaque: writes nothing, answers 400 `field type conflict` (names nothing)
 * It records every request and what it stored; it can fail with 503 from request `failFrom` on,
 * and refuses bodies with more than `maxLines` lines with 413.
 */
function fakeServer(style: Style, opts: { failFrom?: number; maxLines?: number } = {}) {
  const stored: string[] = [];
  const requests: string[][] = [];
  const post = async (body: string): Promise<WriteOutcome> => {
    const lines = body.split('\n');
    requests.push(lines);
    if (opts.failFrom !== undefined && requests.length >= opts.failFrom) return classifyAnswer(503, 'unavailable', v1);
    if (opts.maxLines !== undefined && lines.length > opts.maxLines) return classifyAnswer(413, JSON.stringify({ error: 'Request Entity Too Large' }), v1);
    const bad = lines.filter((l) => l.includes('BAD'));
    if (bad.length === 0) {
      stored.push(...lines);
      return { kind: 'ok' };
    }
    if (style === 'v1-quoting') {
      stored.push(...lines.filter((l) => !l.includes('BAD')));
      const msg = `partial write: ${bad.map((l) => `unable to parse '${l}': invalid field format`).join('\n')} dropped=0`;
      return classifyAnswer(400, JSON.stringify({ error: msg }), v1);
    }
    if (style === 'v2-numbering') {
      const numbered = lines.flatMap((l, i) => (l.includes('BAD') ? [`line ${i + 1}: invalid field format`] : []));
      return classifyAnswer(400, JSON.stringify({ code: 'invalid', message: `failed to parse line protocol:\nerrors encountered on line(s):\n${numbered.join('\n')}` }), v2);
    }
    return classifyAnswer(400, JSON.stringify({ error: 'field type conflict' }), v1);
  };
  return { post, stored, requests };
}

function batch(n: number, badAt: number[]): string[] {
  return Array.from({ length: n }, (_, i) => (badAt.includes(i) ? `m BAD=${i} ${i}` : `m v=${i} ${i}`));
}

describe('influx delivery: drop only the bad lines', () => {
  for (const style of ['v1-quoting', 'v2-numbering', 'opaque'] as const) {
    it(`${style}: the good lines land in order, the bad ones are dropped and reported`, async () => {
      const lines = batch(1000, [3, 517, 998]);
      const server = fakeServer(style);
      const r = await deliverLines(lines, server.post);
      expect(r.ok).toBe(true);
      expect(r.dropped.map((d) => d.index)).toEqual([3, 517, 998]);
      expect(r.dropped.map((d) => d.line)).toEqual(['m BAD=3 3', 'm BAD=517 517', 'm BAD=998 998']);
      expect(r.dropped.every((d) => d.status === 400)).toBe(true);
      expect(r.written).toBe(997);
      // Stored exactly the good lines, each once, in batch order.
      expect(server.stored).toEqual(lines.filter((l) => !l.includes('BAD')));
      if (style === 'opaque') {
        // Bisection: about 2 requests per level per bad line, far fewer than one per line.
        expect(r.requests).toBeLessThanOrEqual(1 + 3 * 2 * Math.ceil(Math.log2(1000)));
      } else {
        // Named lines: one request that names them, one for the rest at most.
        expect(r.requests).toBeLessThanOrEqual(2);
      }
    });
  }

  it('a batch without bad lines is one request', async () => {
    const server = fakeServer('opaque');
    const r = await deliverLines(batch(500, []), server.post);
    expect(r).toEqual({ ok: true, written: 500, dropped: [], requests: 1 });
  });

  it('a batch of only bad lines is dropped entirely', async () => {
    const server = fakeServer('opaque');
    const r = await deliverLines(batch(4, [0, 1, 2, 3]), server.post);
    expect(r.ok && r.dropped.length === 4 && r.written === 0).toBe(true);
    expect(server.stored).toEqual([]);
  });

  it('splits a batch the server finds too large, dropping nothing', async () => {
    const server = fakeServer('opaque', { maxLines: 300 });
    const lines = batch(1000, []);
    const r = await deliverLines(lines, server.post);
    expect(r.ok && r.dropped.length === 0 && r.written === 1000).toBe(true);
    expect(server.stored).toEqual(lines);
  });

  it('drops a single line that is too large on its own', async () => {
    const server = fakeServer('opaque', { maxLines: 0 });
    const r = await deliverLines(['m v=1 1'], server.post);
    expect(r.ok && r.dropped.length === 1 && r.dropped[0]!.status === 413).toBe(true);
  });

  it('stops on a server error and returns the unsent rest in order, without the lines already dropped', async () => {
    const lines = batch(64, [5, 40]);
    // Opaque bisection: 1 [0,64) 400, 2 [0,32) 400, 3 [0,16) 400, 4 [0,8) 400, 5 [0,4) ok, 6 [4,8) 400,
    // 7 [4,6) 400, 8 [4,5) ok, 9 [5,6) 400 -> line 5 dropped, 10 [6,8) fails.
    const server = fakeServer('opaque', { failFrom: 10 });
    const r = await deliverLines(lines, server.post);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.outcome.kind).toBe('retry');
    expect(r.dropped.map((d) => d.index)).toEqual([5]);
    expect(r.rest[0]).toBe(6);
    const storedSet = new Set(server.stored);
    const droppedSet = new Set(r.dropped.map((d) => d.index));
    // Every line is accounted for exactly once: stored, dropped (bad) or in the rest.
    for (let i = 0; i < lines.length; i++) {
      const n = Number(storedSet.has(lines[i]!)) + Number(droppedSet.has(i)) + Number(r.rest.includes(i));
      expect(n, `line ${i}`).toBe(1);
    }
    // The rest is a suffix: ascending and contiguous apart from dropped lines.
    expect(r.rest).toEqual([...r.rest].sort((a, b) => a - b));
    expect(r.rest.at(-1)).toBe(63);
    expect(r.dropped.every((d) => lines[d.index]!.includes('BAD'))).toBe(true);
  });

  it('stops at once when the very first request fails, returning the whole batch', async () => {
    const server = fakeServer('opaque', { failFrom: 1 });
    const r = await deliverLines(batch(10, []), server.post);
    expect(r).toMatchObject({ ok: false, written: 0, rest: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
  });
});
