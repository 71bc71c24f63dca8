/**
 * A child process for test/integration/influx-kill.test.ts: an InfluxSink against a URL where no
 * server listens, fed ~4,000 lines/s, so that everything goes to the disk spool. It prints
 *   {"ready":true}                 once the sink runs
 *   {"spooled":N}                  every 20 ms: N points are committed to the spool
 * and runs until it is killed. Lines carry `seq` 0, 1, 2... in order, and batches are spooled in
 * order with nothing dropped, so "N spooled" means lines 0..N-1 are on disk.
 *
 *   node --import tsx test/helpers/spooling-sink.ts <storeDir> <deadUrl>
 */
import { pino } from 'pino';
import { influxSchema } from '../../gateway/src/sinks/influx/config.js';
import { InfluxSink } from '../../gateway/src/sinks/influx/influx-sink.js';
import { openStore } from '../../gateway/src/store/store.js';
import { KILL_TEST_BASE, KILL_TEST_DB } from './influx-kit.js';

const [dir, url] = process.argv.slice(2);
if (!dir || !url) {
  console.error('usage: spooling-sink.ts <storeDir> <deadUrl>');
  process.exit(2);
}

const store = openStore({ dir });
const sink = new InfluxSink({
  config: influxSchema.parse({
    enabled: true,
    api: 'v1',
    url,
    v1: { db: KILL_TEST_DB },
    batch: { size: 200, intervalMs: 20 },
    retry: { initialMs: 50, maxMs: 200 },
    timeoutMs: 500,
  }),
  store,
  site: 'v1',
  deviceInfo: () => undefined,
  // Logs to stderr: stdout carries the progress lines the test reads.
  log: pino({ level: 'warn' }, process.stderr),
});
sink.start();

let seq = 0;
const started = Date.now();
setInterval(() => {
  // 4 lines per ms of wall time since start.
  const due = (Date.now() - started) * 4;
  const points = [];
  for (; seq < due; seq++) points.push({ measurement: 'probe', tags: { n: String(seq % 8) }, fields: { seq }, ts: KILL_TEST_BASE + seq });
  sink.writePoints(points);
}, 5);
setInterval(() => {
  const s = sink.stats();
  if (s.enabled) process.stdout.write(`${JSON.stringify({ spooled: s.spool.points, generated: seq, state: s.connection.state })}\n`);
}, 20);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
