import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { csvCell, isoLocal, toCsv } from '../../gateway/src/access/reports/csv.js';
import { hourSql, localMsSql, offsetSegments, weekdaySql } from '../../gateway/src/access/reports/local-time-sql.js';
import { LocalTime } from '../../gateway/src/access/rules/local-time.js';

const db = new Database(':memory:');

function sqlParts(timeZone: string, from: number, to: number, ts: readonly number[]): Array<{ hour: number; weekday: number }> {
  const local = localMsSql('ts', offsetSegments(timeZone, from, to));
  db.exec('DROP TABLE IF EXISTS t; CREATE TABLE t (ts INTEGER NOT NULL)');
  const ins = db.prepare('INSERT INTO t (ts) VALUES (?)');
  for (const t of ts) ins.run(t);
  return db.prepare(`SELECT ${hourSql(local)} AS hour, ${weekdaySql(local)} AS weekday FROM t ORDER BY rowid`).all() as Array<{ hour: number; weekday: number }>;
}

describe('local hour and weekday in SQL', () => {
  it('match LocalTime for Shanghai (one offset, a constant in the SQL)', () => {
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2026, 3, 1);
    expect(offsetSegments('Asia/Shanghai', from, to)).toEqual([{ from: Number.NEGATIVE_INFINITY, offsetMs: 8 * 3_600_000 }]);
    expect(localMsSql('ts', offsetSegments('Asia/Shanghai', from, to))).toBe('(ts + 28800000)');
    const ts = Array.from({ length: 500 }, (_, i) => from + Math.floor(((to - from) * (i * 7919 % 500)) / 500) + i * 13_001);
    const local = new LocalTime('Asia/Shanghai');
    expect(sqlParts('Asia/Shanghai', from, to, ts)).toEqual(ts.map((t) => ({ hour: local.parts(t).hour, weekday: local.parts(t).weekday })));
  });

  it('match LocalTime across both DST changes in Berlin (a CASE over the segments)', () => {
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2027, 0, 1);
    const segs = offsetSegments('Europe/Berlin', from, to);
    expect(segs.map((s) => [s.from, s.offsetMs])).toEqual([
      [Number.NEGATIVE_INFINITY, 3_600_000],
      [Date.UTC(2026, 2, 29, 1, 0), 7_200_000],
      [Date.UTC(2026, 9, 25, 1, 0), 3_600_000],
    ]);
    const around = [Date.UTC(2026, 2, 29, 0, 59), Date.UTC(2026, 2, 29, 1, 0), Date.UTC(2026, 9, 25, 0, 59), Date.UTC(2026, 9, 25, 1, 0)];
    const ts = [...around, ...Array.from({ length: 300 }, (_, i) => from + i * 104_729_000)];
    const local = new LocalTime('Europe/Berlin');
    expect(sqlParts('Europe/Berlin', from, to, ts)).toEqual(ts.map((t) => ({ hour: local.parts(t).hour, weekday: local.parts(t).weekday })));
    expect(sqlParts('Europe/Berlin', from, to, around).map((p) => p.hour)).toEqual([1, 3, 2, 2]);
  });

  it('refuses anything but a column name', () => {
    expect(() => localMsSql('ts); DROP TABLE t; --', [{ from: 0, offsetMs: 0 }])).toThrow(/not a column name/);
  });
});

describe('CSV', () => {
  it('quotes per RFC 4180, ends lines with CRLF and starts with a BOM', () => {
    const csv = toCsv(
      [
        { id: 'a', zh: '甲', value: (r: { a: string; b: number | null }) => r.a },
        { id: 'b', zh: '乙', value: (r: { a: string; b: number | null }) => r.b },
      ],
      [
        { a: 'plain', b: 1 },
        { a: 'with, comma', b: null },
        { a: 'say "hi"\nnext line', b: 2.5 },
      ],
    );
    expect(csv).toBe('\uFEFFa,b\r\nplain,1\r\n"with, comma",\r\n"say ""hi""\nnext line",2.5\r\n');
    expect(toCsv([{ id: 'a', zh: '甲', value: () => 'x' }], [{}], { header: 'zh', bom: false })).toBe('甲\r\nx\r\n');
  });

  it('defuses cells a spreadsheet would run as a formula', () => {
    expect(csvCell('=HYPERLINK("http://evil")')).toBe(`"'=HYPERLINK(""http://evil"")"`);
    expect(csvCell('+86 138')).toBe("'+86 138");
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell(-1)).toBe('-1');
    expect(csvCell('4401**********1234')).toBe('4401**********1234');
  });

  it('writes local time with its offset', () => {
    expect(isoLocal(Date.UTC(2026, 2, 1, 18, 30, 5), 8 * 3_600_000)).toBe('2026-03-02T02:30:05+08:00');
    expect(isoLocal(Date.UTC(2026, 2, 1, 18, 30, 5), -5.5 * 3_600_000)).toBe('2026-03-01T13:00:05-05:30');
  });
});

describe('store migration of the anomaly index', () => {
  it('creates exactly the index the report queries are written for', async () => {
    const { migrations } = await import('../../gateway/src/store/migrations.js');
    const { ANOMALY_INDEX_SQL } = await import('../../gateway/src/access/reports/index.js');
    expect(migrations.some((m) => m.sql.trim() === ANOMALY_INDEX_SQL)).toBe(true);
  });
});
