/**
 * Batching (sinks/influx/batcher.ts) with a fake clock and timer, and the spool table
 * (store/spool.ts) on an in-memory store: replay order, the explicit overflow policy (oldest
 * telemetry first, never alarms or access events), settling replayed rows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LineBatcher, type Batch, type BatchTimers } from '../../gateway/src/sinks/influx/batcher.js';
import { SPOOL_ROW_OVERHEAD_BYTES, type SpoolChunkInput } from '../../gateway/src/store/spool.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

function fakeTimers() {
  let now = 1000;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  const timers: BatchTimers = {
    set: (fn, ms) => {
      pending.set(++id, { at: now + ms, fn });
      return id;
    },
    clear: (h) => void pending.delete(h as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [k, t] of [...pending]) {
      if (t.at <= now) {
        pending.delete(k);
        t.fn();
      }
    }
  };
  return { timers, advance, now: () => now, pending };
}

describe('influx batching', () => {
  it('closes a batch when it reaches the size, numbering batches in order', () => {
    const clock = fakeTimers();
    const out: Batch[] = [];
    const b = new LineBatcher({ size: 3, intervalMs: 1000, now: clock.now, firstSeq: 7, timers: clock.timers, onBatch: (x) => out.push(x) });
    for (let i = 0; i < 7; i++) b.add(`l${i}`, i === 4 ? 'alarm' : 'telemetry');
    expect(out.map((x) => [x.seq, x.lines])).toEqual([
      [7, ['l0', 'l1', 'l2']],
      [8, ['l3', 'l4', 'l5']],
    ]);
    expect(out[1]!.classes).toEqual(['telemetry', 'alarm', 'telemetry']);
    expect(b.pending).toBe(1);
    // A batch closed by size leaves no timer behind for it; only the open batch's timer is armed.
    expect(clock.pending.size).toBe(1);
  });

  it('closes a batch when its first line is intervalMs old, with that line time as queuedAt', () => {
    const clock = fakeTimers();
    const out: Batch[] = [];
    const b = new LineBatcher({ size: 100, intervalMs: 500, now: clock.now, firstSeq: 1, timers: clock.timers, onBatch: (x) => out.push(x) });
    b.add('a', 'telemetry');
    expect(b.oldestQueuedAt).toBe(1000);
    clock.advance(300);
    b.add('b', 'telemetry');
    clock.advance(199);
    expect(out).toEqual([]);
    clock.advance(1);
    expect(out).toEqual([{ seq: 1, lines: ['a', 'b'], classes: ['telemetry', 'telemetry'], queuedAt: 1000 }]);
    expect(b.oldestQueuedAt).toBeUndefined();
    // The next batch starts its own interval from its own first line.
    clock.advance(1000);
    b.add('c', 'access');
    clock.advance(499);
    expect(out).toHaveLength(1);
    clock.advance(1);
    expect(out[1]).toMatchObject({ seq: 2, lines: ['c'], queuedAt: 2500 });
  });

  it('close() sends the open batch now and is a no-op when empty', () => {
    const clock = fakeTimers();
    const out: Batch[] = [];
    const b = new LineBatcher({ size: 100, intervalMs: 500, now: clock.now, firstSeq: 1, timers: clock.timers, onBatch: (x) => out.push(x) });
    b.close();
    expect(out).toEqual([]);
    b.add('a', 'telemetry');
    b.close();
    expect(out).toHaveLength(1);
    expect(clock.pending.size).toBe(0);
  });
});

let store: Store | undefined;
afterEach(() => {
  store?.close();
  store = undefined;
});

function chunk(seq: number, cls: SpoolChunkInput['class'], n: number, tag = `s${seq}`, queuedAt = seq * 10): SpoolChunkInput {
  return { seq, class: cls, queuedAt, lines: Array.from({ length: n }, (_, i) => `m,b=${tag} v=${i} ${seq * 1000 + i}`) };
}
function bytesOf(c: SpoolChunkInput): number {
  return Buffer.byteLength(c.lines.join('\n')) + SPOOL_ROW_OVERHEAD_BYTES;
}

describe('spool table', () => {
  it('replays in batch order, an older batch spooled later first', () => {
    store = openStore({ memory: true });
    const spool = store.spool;
    spool.append([chunk(5, 'telemetry', 2), chunk(5, 'alarm', 1)], 1e9);
    spool.append([chunk(6, 'telemetry', 2)], 1e9);
    // Batch 4 was in flight when the server went away: spooled after 5 and 6, replayed before them.
    spool.append([chunk(4, 'access', 3)], 1e9);
    expect(spool.head(1000).map((r) => [r.seq, r.class, r.points])).toEqual([
      [4, 'access', 3],
      [5, 'telemetry', 2],
      [5, 'alarm', 1],
      [6, 'telemetry', 2],
    ]);
    expect(spool.maxSeq()).toBe(6);
    // head() stops at the point budget but always returns at least one row.
    expect(spool.head(5).map((r) => r.seq)).toEqual([4, 5]);
    expect(spool.head(1).map((r) => r.seq)).toEqual([4]);
    expect(spool.head(1)[0]!.lines).toEqual(chunk(4, 'access', 3).lines);
  });

  it('drops the oldest telemetry first to stay within maxBytes, never alarms or access events', () => {
    store = openStore({ memory: true });
    const spool = store.spool;
    const t1 = chunk(1, 'telemetry', 20);
    const a2 = chunk(2, 'alarm', 20);
    const t3 = chunk(3, 'telemetry', 20);
    const x4 = chunk(4, 'access', 20);
    const t5 = chunk(5, 'telemetry', 20);
    const max = bytesOf(t1) + bytesOf(a2) + bytesOf(t3) + bytesOf(x4) + 10;
    expect(spool.append([t1, a2, t3, x4], max).dropped.points).toBe(0);
    const r = spool.append([t5], max);
    // t1 (the oldest telemetry) made room; the alarm before t3 stayed.
    expect(r.dropped).toEqual({ rows: 1, points: 20, bytes: bytesOf(t1), oldestQueuedAt: 10 });
    expect(spool.head(1000).map((x) => x.seq)).toEqual([2, 3, 4, 5]);
    const stats = spool.stats(max);
    expect(stats.bytes).toBeLessThanOrEqual(max);
    expect(stats.byClass).toEqual({
      telemetry: { rows: 2, points: 40, bytes: bytesOf(t3) + bytesOf(t5) },
      alarm: { rows: 1, points: 20, bytes: bytesOf(a2) },
      access: { rows: 1, points: 20, bytes: bytesOf(x4) },
    });
    expect(stats.oldestQueuedAt).toBe(20);
  });

  it('does not drop rows that are being replayed at that moment (they are about to be written)', () => {
    store = openStore({ memory: true });
    const spool = store.spool;
    const t1 = chunk(1, 'telemetry', 20);
    const t2 = chunk(2, 'telemetry', 20);
    const max = bytesOf(t1) + bytesOf(t2) + 10;
    spool.append([t1, t2], max);
    const replaying = new Set([spool.head(20)[0]!.id]);
    const r = spool.append([chunk(3, 'telemetry', 20)], max, replaying);
    // t1 is in flight: t2 is the oldest telemetry that may go.
    expect(r.dropped).toMatchObject({ rows: 1, points: 20, oldestQueuedAt: 20 });
    expect(spool.head(1000).map((x) => x.seq)).toEqual([1, 3]);
  });

  it('keeps alarms and access events above the bound when nothing else is left, and reports it', () => {
    store = openStore({ memory: true });
    const spool = store.spool;
    const a1 = chunk(1, 'alarm', 30);
    const max = bytesOf(a1) + 5;
    spool.append([a1], max);
    const t2 = chunk(2, 'telemetry', 5);
    // No older telemetry to drop: the new telemetry is the oldest there is, and it goes.
    expect(spool.append([t2], max).dropped).toMatchObject({ rows: 1, points: 5 });
    const x3 = chunk(3, 'access', 30);
    expect(spool.append([x3], max)).toMatchObject({ rows: 1, points: 30, dropped: { rows: 0, points: 0 } });
    const stats = spool.stats(max);
    expect(stats.byClass.alarm.points + stats.byClass.access.points).toBe(60);
    expect(stats.overBoundBytes).toBe(bytesOf(a1) + bytesOf(x3) - max);
  });

  it('settle() removes replayed rows and writes back the unsent rest in the same place', () => {
    store = openStore({ memory: true });
    const spool = store.spool;
    spool.append([chunk(1, 'telemetry', 4), chunk(1, 'alarm', 2), chunk(2, 'telemetry', 4)], 1e9);
    const head = spool.head(6);
    expect(head.map((r) => r.seq)).toEqual([1, 1]);
    const rest = { seq: 1, class: 'alarm' as const, queuedAt: 10, lines: head[1]!.lines.slice(1) };
    spool.settle(
      head.map((r) => r.id),
      [rest],
    );
    expect(spool.head(1000).map((r) => [r.seq, r.class, r.lines.length])).toEqual([
      [1, 'alarm', 1],
      [2, 'telemetry', 4],
    ]);
    expect(spool.stats(1e9)).toMatchObject({ rows: 2, points: 5 });
    spool.settle(spool.head(1000).map((r) => r.id));
    expect(spool.isEmpty()).toBe(true);
    expect(spool.stats(1e9)).toMatchObject({ rows: 0, points: 0, bytes: 0 });
  });
});
