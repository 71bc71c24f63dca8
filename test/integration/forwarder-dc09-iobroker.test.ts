/**
 * Interop: the DC-09 forwarder against an independent receiver, iobroker.sia 2.0.4 (see
 * test/helpers/iobroker-sia.ts for how it is fetched and loaded). Its ADM-CID and SIA-DCS
 * frames, plain and AES-128/192/256, over TCP and UDP, are ACKed and read back as we sent them;
 * a NAK from their receiver (our clock 2 minutes slow) is corrected; their default of hanging up
 * after every answer costs nothing. Also recorded: they NAK NULL link tests, so a path to an
 * ioBroker receiver must run with heartbeatMs: 0.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alarmFrameContent, dc09Forwarder, dc09PathSchema } from '../../gateway/src/alarms/forwarders/dc09.js';
import type { Forwarder, OutboundMessage, PathHealth } from '../../gateway/src/alarms/forwarders/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { IOBROKER_SIA_PACKAGE, startIoBrokerSia, type IoBrokerSiaMessage, type IoBrokerSiaServer } from '../helpers/iobroker-sia.js';
import { waitFor } from '../helpers/processes.js';
import { KEY128, KEY192, KEY256 } from '../unit/dc09-hand-frames.js';

const HOST = '127.0.0.1';
const log = silentLogger();

let seq = 500;
function message(account: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  const now = Date.now();
  return {
    outboxId: seq,
    route: 'police',
    account,
    seq: ++seq,
    zone: 15,
    group: 1,
    attempt: 1,
    queuedAt: now,
    cameraUrl: 'http://cam.local/snap/1.jpg',
    alarm: {
      id: `01JIOB${seq}`,
      site: 'v1',
      device: 'pole-1',
      profile: 'generic-alarm-pole',
      rule: 'panic',
      name: { zh: '一键报警', en: 'Panic button' },
      code: { cid: 120, sia: 'PA' },
      severity: 'emergency',
      kind: 'alarm',
      latch: true,
      silent: false,
      state: 'queued',
      raisedAt: now,
      updatedAt: now,
      location: { building: '3', room: '201', lat: 22.54, lon: 113.93 },
      fields: {},
    },
    ...over,
  };
}

/** The message without coordinates: only the [V] block goes out. */
function plainLocation(msg: OutboundMessage): OutboundMessage {
  return { ...msg, alarm: { ...msg.alarm, location: { building: '3', room: '201' } } };
}

/** Their `HH:MM:SS,MM-DD-YYYY` reading of our timestamp is within a few seconds of now. */
function expectNow(ts: string): void {
  const m = /^(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/.exec(ts);
  expect(m, ts).not.toBeNull();
  const [hh, mi, ss, mo, dd, yyyy] = m!.slice(1).map(Number) as [number, number, number, number, number, number];
  expect(Math.abs(Date.UTC(yyyy, mo - 1, dd, hh, mi, ss) - Date.now())).toBeLessThan(5000);
}

const made: Forwarder[] = [];
async function forwarder(cfg: Record<string, unknown>, opts: { now?: () => number } = {}): Promise<{ fwd: Forwarder; health: PathHealth[] }> {
  const health: PathHealth[] = [];
  const config = dc09PathSchema.parse({ id: 'iobroker', type: 'dc09', host: HOST, heartbeatMs: 0, ackTimeoutMs: 1500, ...cfg });
  const fwd = dc09Forwarder.create(config, {
    log,
    now: opts.now ?? (() => Date.now()),
    site: 'v1',
    onHealth: (h) => health.push(h),
    onOperatorAck: () => undefined,
  });
  made.push(fwd);
  await fwd.start();
  return { fwd, health };
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((f) => f.stop()));
});

const ACCOUNTS = [
  { accountnumber: '1234', aes: false },
  { accountnumber: 'A128', aes: true, hex: true, password: KEY128.toString('hex') },
  { accountnumber: 'A192', aes: true, hex: true, password: KEY192.toString('hex') },
  { accountnumber: 'A256', aes: true, hex: true, password: KEY256.toString('hex') },
];

let iob: IoBrokerSiaServer;

beforeAll(async () => {
  // Their adapter's defaults hang up after every answer (sockend) and check no timestamps
  // (timeout 0); a 30 s window here lets the NAK case run.
  iob = await startIoBrokerSia({ accounts: ACCOUNTS, timeout: 30, sockend: true });
});

afterAll(async () => {
  await iob?.stop();
});

function got(account: string, s: number): IoBrokerSiaMessage[] {
  return iob.received.filter((m) => m.act === account && Number(m.seq) === s);
}

const VARIANTS: Array<[string, string, Buffer | undefined]> = [
  ['plain', '1234', undefined],
  ['AES-128', 'A128', KEY128],
  ['AES-192', 'A192', KEY192],
  ['AES-256', 'A256', KEY256],
];

describe(`the forwarder against ${IOBROKER_SIA_PACKAGE}`, () => {
  describe.each(['tcp', 'udp'] as const)('over %s', (transport) => {
    describe.each(VARIANTS)('%s', (_variant, account, key) => {
      it.each(['adm-cid', 'sia-dcs'] as const)('%s is ACKed and read back as sent', async (format) => {
        const { fwd } = await forwarder({
          transport,
          port: transport === 'tcp' ? iob.tcpPort : iob.udpPort,
          format,
          line: '1',
          receiver: 'F3',
          ...(key ? { key: key.toString('hex') } : {}),
        });
        // At most one extended block: their parser reads only the first one, and with more it
        // misses the timestamp (see the finding below).
        const msg = plainLocation(message(account));
        const r = await fwd.send(msg, new AbortController().signal);
        expect(r, iob.refused.join('; ')).toMatchObject({ outcome: 'delivered' });
        const content = alarmFrameContent(msg, format);
        const [m] = got(account, msg.seq);
        expect(m).toMatchObject({
          id: `${key ? '*' : ''}${content.id}`,
          act: account,
          lpref: '1',
          rpref: 'F3',
          data_message: content.data,
          data_extended: 'Vhttp://cam.local/snap/1.jpg',
        });
        expectNow(m!.ts);
      });
    });
  });

  it('finding: with location and camera ([X][Y][V]) it keeps only [X] and loses the timestamp, but ACKs', async () => {
    const { fwd } = await forwarder({ transport: 'tcp', port: iob.tcpPort, format: 'sia-dcs', key: KEY128.toString('hex') });
    const msg = message('A128');
    expect(await fwd.send(msg, new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
    expect(got('A128', msg.seq)).toEqual([
      expect.objectContaining({ data_message: alarmFrameContent(msg, 'sia-dcs').data, data_extended: 'XE113.93', ts: '' }),
    ]);
  });

  it('over TCP, with it hanging up after every answer: a run of alarms is all delivered', async () => {
    const { fwd } = await forwarder({ transport: 'tcp', port: iob.tcpPort, format: 'adm-cid', key: KEY256.toString('hex') });
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) {
      const msg = message('A256');
      sent.push(msg.seq);
      expect(await fwd.send(msg, new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
    }
    for (const s of sent) expect(got('A256', s).length).toBeGreaterThanOrEqual(1);
    // Each frame waits for the previous answer's FIN before it is written, so a copy written into
    // the dying connection (and read by it there: it has no duplicate check) is rare, not the rule.
    expect(sent.reduce((n, s) => n + got('A256', s).length, 0)).toBeLessThanOrEqual(sent.length + 1);
  });

  it.each(['tcp', 'udp'] as const)('over %s: our clock 2 minutes slow gets its NAK; the corrected resend is ACKed', async (transport) => {
    const slow = () => Date.now() - 120_000;
    const { fwd } = await forwarder({ transport, port: transport === 'tcp' ? iob.tcpPort : iob.udpPort, key: KEY128.toString('hex') }, { now: slow });
    const refusedBefore = iob.refused.length;
    const msg = plainLocation(message('A128'));
    expect(await fwd.send(msg, new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
    expect(iob.refused.slice(refusedBefore)).toEqual([expect.stringMatching(/to old/)]);
    // Usually once; twice if the resend slipped into the connection it was closing (it hangs up
    // after a NAK, and has no duplicate check).
    expect(got('A128', msg.seq).length).toBeGreaterThanOrEqual(1);
    expectNow(got('A128', msg.seq)[0]!.ts);
    // The next one goes out with the corrected clock straight away.
    const before = iob.refused.length;
    expect(await fwd.send(plainLocation(message('A128')), new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
    expect(iob.refused.length).toBe(before);
  });

  it('is not a yes-machine: a plain frame for an AES account is refused (NAK), never delivered', async () => {
    // (Not a wrong key: iobroker.sia checks decrypted text loosely and ACKs about one random
    // wrong-key frame in seven - docs/dc09.md - and our pads are random.)
    const { fwd } = await forwarder({ transport: 'udp', port: iob.udpPort });
    const msg = message('A128');
    const before = iob.refused.length;
    const r = await fwd.send(msg, new AbortController().signal);
    // iobroker answers NAK to everything it refuses (no DUH); after two resends we give up.
    expect(r).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/NAK/) });
    expect(iob.refused.slice(before)).toEqual([expect.stringMatching(/not entcrypted/), expect.stringMatching(/not entcrypted/), expect.stringMatching(/not entcrypted/)]);
    expect(got('A128', msg.seq)).toHaveLength(0);
  });

  it('finding: it NAKs NULL link tests, so heartbeats to it report the path down (use heartbeatMs: 0)', async () => {
    const { fwd, health } = await forwarder({ transport: 'udp', port: iob.udpPort, account: '1234', heartbeatMs: 100, ackTimeoutMs: 300, failAfter: 2 });
    const down = await waitFor(() => health.find((h) => !h.up), 3000, 'path down');
    expect(down.reason).toMatch(/NAK/);
    expect(iob.refused.some((e) => /Incorrect format/.test(e))).toBe(true);
    // Alarms still go through.
    expect(await fwd.send(message('1234'), new AbortController().signal)).toMatchObject({ outcome: 'delivered' });
  });
});
