/**
 * Crash during a burst: the real gateway process (`shouwang start`) is killed with SIGKILL at a
 * random moment while a burst of alarms is in flight, 50 times, and restarted each time. Alarms
 * come from MQTT door sensors toggling tamper (alarm TA + restore TR each), forwarded over
 * DC-09/TCP to a receiver in this process that drops retransmissions by account + seq + content.
 *
 * Afterwards: every alarm the gateway stored was delivered, the receiver saw each outbox row
 * exactly once after its dedupe (exactly-once as the receiver sees it), and in sequence order.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { hashPassword } from '../../gateway/src/auth/password.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-receiver.js';
import { STORE_FILE_NAME } from '../../gateway/src/store/store.js';
import { jsonLine, repoRoot, sleep, startTsProcess, stopAll, waitFor, type Started } from '../helpers/processes.js';

const KILLS = Number(process.env.SW_CRASH_KILLS ?? 50);
const SENSORS = 24;
const SITE = 'crash';
let dir: string;
let configFile: string;
let receiver: Dc09Receiver;
let mqttPort: number;
const received: Dc09ReceivedEvent[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-crash-'));
  receiver = await startDc09Receiver({ accounts: [{ account: 'C0FFEE' }], log: silentLogger(), onEvent: (e) => void received.push(e) });
  mqttPort = await freePort();
  configFile = join(dir, 'gateway.yaml');
  const config = {
    site: { id: SITE },
    storage: { dir: join(dir, 'data') },
    profiles: { dirs: [join(repoRoot, 'device-profiles')] },
    devices: Array.from({ length: SENSORS }, (_, i) => ({ id: `door-${i + 1}`, profile: 'generic-mqtt-door-sensor' })),
    mqtt: { host: '127.0.0.1', port: mqttPort, users: [{ username: 'admin', passwordHash: hashPassword('crash-admin-pw'), role: 'admin' }] },
    http: { enabled: false },
    forwarding: {
      paths: [{ id: 'police', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: receiver.tcpPort, heartbeatMs: 0, ackTimeoutMs: 1000 }],
      routes: [{ id: 'police', account: 'C0FFEE', match: {}, paths: ['police'] }],
      retry: { initialMs: 50, maxMs: 500 },
    },
    log: { level: 'warn' },
  };
  writeFileSync(configFile, stringify(config));
}, 30_000);

afterAll(async () => {
  await stopAll();
  await receiver?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startGateway(): Promise<Started<true>> {
  return startTsProcess<true>('gateway/src/main.ts', ['start', '--config', configFile], (line) => (jsonLine(line)?.msg === 'gateway ready' ? true : undefined), {
    timeoutMs: 20_000,
    env: { SW_LOG_LEVEL: 'info' },
  });
}

/**
 * Publish tamper on/off for every sensor, as fast as the broker takes them. Returns a function
 * that ends the burst: after a kill, unacknowledged QoS 1 publishes would otherwise wait forever.
 */
async function burst(round: number): Promise<{ done: Promise<void>; abort: () => void }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'admin', password: 'crash-admin-pw', reconnectPeriod: 0, clientId: `burst-${round}` });
  client.on('error', () => {});
  let aborted = false;
  const done = (async () => {
    for (let i = 1; i <= SENSORS && !aborted; i++) {
      const topic = `shouwang/${SITE}/door-${i}/up`;
      await client.publishAsync(topic, JSON.stringify({ tamper: true, battery: 90 }), { qos: 1 });
      await client.publishAsync(topic, JSON.stringify({ tamper: false, battery: 90 }), { qos: 1 });
    }
  })().catch(() => {
    // The gateway was killed under us: that is the point of the test.
  });
  return {
    done,
    abort: () => {
      aborted = true;
      client.end(true);
    },
  };
}

function readStore(): { alarms: number; rows: Array<{ seq: number; status: string; alarm_id: string }> } {
  const db = new Database(join(dir, 'data', STORE_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    const alarms = (db.prepare('SELECT COUNT(*) AS n FROM alarms').get() as { n: number }).n;
    const rows = db.prepare('SELECT seq, status, alarm_id FROM outbox ORDER BY id').all() as Array<{ seq: number; status: string; alarm_id: string }>;
    return { alarms, rows };
  } finally {
    db.close();
  }
}

describe('gateway killed with SIGKILL during alarm bursts', () => {
  it(`loses nothing and duplicates nothing over ${KILLS} kills`, async () => {
    let rng = 12345;
    const random = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let inFlightAtKill = 0;
    for (let round = 0; round < KILLS; round++) {
      const gw = await startGateway();
      const delivered = received.length;
      const publishing = await burst(round);
      await sleep(10 + random() * 200);
      gw.child.kill('SIGKILL');
      await gw.stop();
      publishing.abort();
      await Promise.race([publishing.done, sleep(500)]);
      const { rows } = readStore();
      if (rows.some((r) => r.status === 'pending')) inFlightAtKill++;
      if (process.env.SW_CRASH_DEBUG) console.log(`round ${round}: ${rows.length} rows, ${rows.filter((r) => r.status === 'pending').length} pending, ${received.length} received`);
      expect(received.length).toBeGreaterThanOrEqual(delivered);
    }
    // Many kills must have hit alarms in flight, or the test proves little (how many depends on
    // the machine: the faster the outbox, the more bursts are through before the kill).
    expect(inFlightAtKill).toBeGreaterThanOrEqual(KILLS / 4);

    const gw = await startGateway();
    await waitFor(() => (readStore().rows.every((r) => r.status === 'delivered') ? true : undefined), 30_000, 'outbox drained');
    await gw.stop();

    const { alarms, rows } = readStore();
    expect(alarms).toBeGreaterThan(KILLS);
    // Every stored alarm and restore was queued (match: {} takes all) and delivered.
    expect(new Set(rows.map((r) => r.alarm_id)).size).toBe(alarms);
    // Exactly once as the receiver sees it: one accepted message per outbox row, none twice.
    const seqs = received.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.length).toBe(rows.length);
    expect(seqs).toEqual(rows.map((r) => r.seq));
    // Retransmissions after a kill between the receiver's ACK and our commit are recognised by
    // the receiver and ACKed again without a second delivery; how many depends on kill timing.
    console.log(`crash test: ${KILLS} kills, ${alarms} alarms, ${rows.length} messages, ${inFlightAtKill} kills with messages in flight, ${receiver.stats().duplicates} retransmissions dropped by the receiver`);
  }, 420_000);
});
