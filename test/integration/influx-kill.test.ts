/**
 * Gateway killed while it spools: a child process (test/helpers/spooling-sink.ts) runs an
 * InfluxSink against a dead URL at ~4,000 lines/s and is killed with SIGKILL mid-stream. Every
 * point it had reported as spooled must still be in the store when it is reopened, and a new sink
 * on that store replays them into a real InfluxDB 1.6, each exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../gateway/src/store/store.js';
import { freePort, InfluxdServer } from '../helpers/influx-servers.js';
import { KILL_TEST_BASE, KILL_TEST_DB, makeSink } from '../helpers/influx-kit.js';
import { jsonLine, startTsProcess, stopAll } from '../helpers/processes.js';

let influx: InfluxdServer;
const dirs: string[] = [];

beforeAll(async () => {
  influx = await InfluxdServer.start();
  await influx.createDatabase(KILL_TEST_DB);
});
afterAll(async () => {
  await stopAll();
  await influx?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('influx spool: gateway killed while it spools', () => {
  it('loses nothing already spooled, and a new sink replays it into InfluxDB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-influx-kill-'));
    dirs.push(dir);
    // Nothing listens there: every write fails and goes to the spool.
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const child = await startTsProcess('test/helpers/spooling-sink.ts', [dir, deadUrl], (l) => (jsonLine(l)?.ready ? true : undefined), { timeoutMs: 20_000 });

    // Let it spool for a while, then kill it without warning right after a progress line.
    let reported = 0;
    const seen = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not spool 6000 points: ${child.lines.slice(-3).join(' | ')} ${child.stderrText()}`)), 15_000);
      child.child.stdout!.on('data', () => {
        for (const line of child.lines.splice(0)) {
          const j = jsonLine(line);
          if (typeof j?.spooled === 'number') reported = Math.max(reported, j.spooled);
        }
        if (reported >= 6000) {
          clearTimeout(timer);
          child.child.kill('SIGKILL');
          resolve(reported);
        }
      });
    });
    await new Promise<void>((r) => (child.child.exitCode !== null || child.child.signalCode !== null ? r() : child.child.once('exit', () => r())));
    expect(child.child.signalCode).toBe('SIGKILL');

    // Reopen: the file is intact and holds at least what was reported.
    const reopened = openStore({ dir });
    expect(reopened.database.pragma('integrity_check', { simple: true })).toBe('ok');
    const onDisk = reopened.spool.stats(Number.MAX_SAFE_INTEGER).points;
    const rows = reopened.spool.head(1_000_000);
    reopened.close();
    expect(onDisk).toBeGreaterThanOrEqual(seen);
    // And it is lines 0..onDisk-1, in order, nothing twice.
    const seqs = rows.flatMap((r) => r.lines.map((l) => Number(/ seq=(\d+)/.exec(l)![1])));
    expect(seqs).toEqual(Array.from({ length: onDisk }, (_, i) => i));

    // A new gateway on the same store, with the database back: everything is replayed once.
    const k = makeSink({ api: 'v1', url: influx.url, v1: { db: KILL_TEST_DB }, batch: { size: 5000, intervalMs: 50 } }, { dir });
    try {
      k.sink.start();
      await k.sink.drained(15_000);
      const stats = k.sink.stats();
      expect(stats).toMatchObject({ enabled: true, replayed: onDisk, dropped: { total: 0 }, spool: { points: 0 } });
    } finally {
      await k.close();
    }
    const stored = (await influx.select('SELECT seq FROM probe', KILL_TEST_DB)).map((r) => [Number(r.time), Number(r.seq)]);
    expect(stored).toHaveLength(onDisk);
    stored.sort((a, b) => a[1]! - b[1]!);
    stored.forEach(([time, seq], i) => {
      expect(seq).toBe(i);
      expect(time).toBe(KILL_TEST_BASE + i);
    });
    console.log(`kill test: ${seen} points reported spooled before SIGKILL, ${onDisk} on disk after, all replayed`);
  });
});
