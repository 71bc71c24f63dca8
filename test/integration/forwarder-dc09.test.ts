/**
 * The DC-09 forwarder over real TCP and UDP sockets on 127.0.0.1, against our own receiver
 * (startDc09Receiver) and, where a misbehaving far end is needed, small raw servers: delivery of
 * ADM-CID and SIA-DCS plain and AES, clock correction after a NAK, DUH, a receiver that is gone
 * and comes back (heartbeat detection), a lost ACK, answers for the wrong sequence, one exchange
 * at a time on a TCP link, reconnects and abort.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { ackFrame, Dc09StreamSplitter, duhFrame, parseFrame, type Dc09Frame } from '../../gateway/src/alarms/dc09/index.js';
import { dc09Forwarder, dc09PathSchema } from '../../gateway/src/alarms/forwarders/dc09.js';
import type { Forwarder, OutboundMessage, PathHealth } from '../../gateway/src/alarms/forwarders/types.js';
import type { Alarm } from '../../gateway/src/core/types.js';
import { createLogger, silentLogger } from '../../gateway/src/log.js';
import { systemClock, type Clock } from '../../gateway/src/polling/clock.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-receiver.js';
import { sleep, waitFor } from '../helpers/processes.js';
import { KEY128, KEY256 } from '../unit/dc09-hand-frames.js';

const HOST = '127.0.0.1';
const log = process.env.SW_TEST_LOG ? createLogger(process.env.SW_TEST_LOG) : silentLogger();
const OTHER_KEY128 = Buffer.from('F0E0D0C0B0A090807060504030201000', 'hex');

let nextSeq = 100;
function message(account: string, over: Partial<OutboundMessage> = {}, alarm: Partial<Alarm> = {}): OutboundMessage {
  return {
    outboxId: nextSeq,
    route: 'police',
    account,
    seq: ++nextSeq,
    zone: 15,
    group: 1,
    attempt: 1,
    queuedAt: Date.now(),
    cameraUrl: 'http://cam.local/snap/1.jpg',
    alarm: {
      id: `01JALARM${nextSeq}`,
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
      raisedAt: Date.now(),
      updatedAt: Date.now(),
      location: { building: '3', room: '201', lat: 22.54, lon: 113.93 },
      fields: {},
      ...alarm,
    },
    ...over,
  };
}

interface Made {
  fwd: Forwarder;
  health: PathHealth[];
}
const made: Forwarder[] = [];

/** A started forwarder; heartbeats off unless asked for. */
async function forwarder(cfg: Record<string, unknown>): Promise<Made> {
  const health: PathHealth[] = [];
  const config = dc09PathSchema.parse({ id: 'police-dc09', type: 'dc09', host: HOST, heartbeatMs: 0, ackTimeoutMs: 1000, ...cfg });
  const fwd = dc09Forwarder.create(config, {
    log,
    now: () => Date.now(),
    site: 'v1',
    onHealth: (h) => health.push(h),
    onOperatorAck: () => undefined,
  });
  made.push(fwd);
  await fwd.start();
  return { fwd, health };
}

const never = () => new AbortController().signal;

afterEach(async () => {
  await Promise.all(made.splice(0).map((f) => f.stop()));
});

const events: Dc09ReceivedEvent[] = [];
/** Sequences whose first delivery the receiver's onEvent holds longer than the ACK timeout. */
const slowOnce = new Set<number>();
let rx: Dc09Receiver;

beforeAll(async () => {
  rx = await startDc09Receiver({
    host: HOST,
    accounts: [{ account: '1234' }, { account: 'BEEF', key: KEY128.toString('hex') }, { account: 'C0FFEE', key: KEY256.toString('hex') }],
    onEvent: async (ev) => {
      if (slowOnce.delete(ev.seq)) await sleep(700);
      events.push(ev);
    },
    log,
  });
});

afterAll(async () => {
  await rx?.stop();
});

function received(account: string, seq: number): Dc09ReceivedEvent[] {
  return events.filter((e) => e.account === account && e.seq === seq);
}

const VARIANTS: Array<[string, string, Buffer | undefined]> = [
  ['plain', '1234', undefined],
  ['AES-128', 'BEEF', KEY128],
  ['AES-256', 'C0FFEE', KEY256],
];

describe.each(['tcp', 'udp'] as const)('over %s against our receiver', (transport) => {
  const port = () => (transport === 'tcp' ? rx.tcpPort : rx.udpPort);

  describe.each(VARIANTS)('%s', (_variant, account, key) => {
    const keyCfg = key ? { key: key.toString('hex') } : {};

    it('ADM-CID is ACKed and the receiver sees account, seq, event, zone, location and camera', async () => {
      const { fwd } = await forwarder({ transport, port: port(), format: 'adm-cid', line: '2', receiver: 'F3', ...keyCfg });
      const msg = message(account, { zone: 7, group: 3 });
      const r = await fwd.send(msg, never());
      expect(r).toMatchObject({ outcome: 'delivered' });
      const [ev, more] = received(account, msg.seq);
      expect(more).toBeUndefined();
      expect(ev).toMatchObject({
        id: 'ADM-CID',
        encrypted: key !== undefined,
        transport,
        line: '2',
        receiver: 'F3',
        contactId: { account, qualifier: 1, event: 120, group: 3, zone: 7 },
        location: { lat: 22.54, lon: 113.93 },
        verificationUrl: 'http://cam.local/snap/1.jpg',
      });
      expect(Math.abs(ev!.transmitterTime!.getTime() - Date.now())).toBeLessThan(5000);
      expect(fwd.health()).toMatchObject({ up: true, lastOkAt: expect.any(Number) });
    });

    it('SIA-DCS (a restore) is ACKed and the receiver sees code, area, zone and the location text', async () => {
      const { fwd } = await forwarder({ transport, port: port(), ...keyCfg });
      const msg = message(account, { zone: 12, group: 2 }, { kind: 'restore', code: { cid: 137, sia: 'TR' } });
      expect(await fwd.send(msg, never())).toMatchObject({ outcome: 'delivered' });
      const [ev] = received(account, msg.seq);
      expect(ev).toMatchObject({
        id: 'SIA-DCS',
        encrypted: key !== undefined,
        sia: { account, events: [{ code: 'TR', address: '12', area: 2 }], text: 'B3 R201' },
        location: { lat: 22.54, lon: 113.93 },
        verificationUrl: 'http://cam.local/snap/1.jpg',
      });
    });
  });

  it('a receiver whose clock is 120 s ahead NAKs; the forwarder corrects its clock and the resend is delivered', async () => {
    const skewed: Clock = { ...systemClock, now: () => Date.now() + 120_000 };
    const got: Dc09ReceivedEvent[] = [];
    const far = await startDc09Receiver({ host: HOST, accounts: [{ account: '1234' }], clock: skewed, onEvent: (ev) => void got.push(ev), log });
    try {
      const { fwd } = await forwarder({ transport, port: transport === 'tcp' ? far.tcpPort : far.udpPort, format: 'adm-cid' });
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(far.stats()).toMatchObject({ naked: 1, events: 1 });
      expect(Math.abs(got[0]!.transmitterTime!.getTime() - skewed.now())).toBeLessThan(3000);
      // Later frames carry the corrected clock from the start: no second NAK.
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(far.stats()).toMatchObject({ naked: 1, events: 2 });
    } finally {
      await far.stop();
    }
  });

  it('resends after a NAK at most twice per send, then gives up with retry', async () => {
    // Each look at this clock is 100 s later than the last: our correction is always too late.
    let jumps = 0;
    const runaway: Clock = { ...systemClock, now: () => Date.now() + 100_000 * ++jumps };
    const far = await startDc09Receiver({ host: HOST, accounts: [{ account: '1234' }], clock: runaway, onEvent: () => undefined, log });
    try {
      const { fwd } = await forwarder({ transport, port: transport === 'tcp' ? far.tcpPort : far.udpPort });
      const r = await fwd.send(message('1234'), never());
      expect(r).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/NAK/) });
      expect(far.stats()).toMatchObject({ naked: 3, events: 0 });
    } finally {
      await far.stop();
    }
  });

  it('a message DC-09 cannot carry is rejected without a throw and without touching the path health', async () => {
    const { fwd, health } = await forwarder({ transport, port: port() });
    const frames = rx.stats().frames;
    expect(await fwd.send(message('1234', { seq: 10_000 }), never())).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/sequence/) });
    expect(await fwd.send(message('1234', { zone: 1000 }), never())).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/zone/) });
    expect(rx.stats().frames).toBe(frames);
    expect(health).toEqual([]);
    expect(fwd.health().up).toBe(true);
  });

  it('a wrong key gets DUH: rejected, and the path is reported down', async () => {
    const { fwd, health } = await forwarder({ transport, port: port(), key: OTHER_KEY128.toString('hex') });
    const before = rx.stats().duhed;
    const r = await fwd.send(message('BEEF'), never());
    expect(r).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/DUH/) });
    expect(rx.stats().duhed).toBe(before + 1);
    expect(health).toEqual([expect.objectContaining({ up: false, reason: expect.stringMatching(/DUH/) })]);
    expect(fwd.health().up).toBe(false);
  });

  it('after a DUH (unknown account) the next ACKed exchange reports the path up again', async () => {
    const { fwd, health } = await forwarder({ transport, port: port() });
    expect(await fwd.send(message('ABC'), never())).toMatchObject({ outcome: 'rejected' });
    expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
    expect(health.map((h) => h.up)).toEqual([false, true]);
    expect(fwd.health()).toMatchObject({ up: true });
  });

  it('detects a receiver that went away (send = retry, heartbeats report it down with detectionMs) and one that came back', async () => {
    const accounts = [{ account: '1234' }];
    let far = await startDc09Receiver({ host: HOST, accounts, onEvent: () => undefined, log });
    const { tcpPort, udpPort } = far;
    try {
      const { fwd, health } = await forwarder({
        transport,
        port: transport === 'tcp' ? tcpPort : udpPort,
        account: '1234',
        heartbeatMs: 150,
        ackTimeoutMs: 300,
        failAfter: 2,
      });
      const firstOk = await waitFor(() => fwd.health().lastOkAt, 3000, 'first heartbeat ACK');
      expect(far.stats().nullMessages).toBeGreaterThanOrEqual(1);
      await far.stop();

      const t0 = Date.now();
      const r = await fwd.send(message('1234'), never());
      expect(r).toMatchObject({ outcome: 'retry' });
      expect(Date.now() - t0).toBeLessThanOrEqual(300 + 100);

      const down = await waitFor(() => health.find((h) => !h.up), 3000, 'path down');
      expect(down.lastOkAt).toBeGreaterThanOrEqual(firstOk);
      expect(down.detectionMs).toBe(down.since - down.lastOkAt!);
      // failAfter=2 failures at most one heartbeat period (+ ACK timeout) apart.
      expect(down.detectionMs).toBeLessThan(2 * 150 + 2 * 300 + 400);
      expect(down.reason).toMatch(new RegExp(transport === 'tcp' ? 'connect' : 'unreachable|ACK timeout'));

      far = await startDc09Receiver({ host: HOST, tcpPort, udpPort, accounts, onEvent: () => undefined, log });
      const up = await waitFor(() => health.find((h) => h.up && h.since > down.since), 3000, 'path up again');
      expect(up.lastOkAt).toBe(up.since);
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(fwd.health()).toMatchObject({ up: true });
    } finally {
      await far.stop();
    }
  });
});

/** Relays datagrams between the forwarder and the receiver, and loses the first `dropReplies` answers. */
async function lossyUdpProxy(target: number, dropReplies: number): Promise<{ port: number; close(): Promise<void> }> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let client: RemoteInfo | undefined;
  let toDrop = dropReplies;
  front.on('message', (m, rinfo) => {
    client = rinfo;
    back.send(m, target, HOST);
  });
  back.on('message', (m) => {
    if (toDrop > 0) {
      toDrop--;
      return;
    }
    if (client) front.send(m, client.port, client.address);
  });
  await new Promise<void>((r) => front.bind(0, HOST, () => r()));
  await new Promise<void>((r) => back.bind(0, HOST, () => r()));
  return {
    port: front.address().port,
    close: async () => {
      await new Promise<void>((r) => front.close(() => r()));
      await new Promise<void>((r) => back.close(() => r()));
    },
  };
}

describe('lost ACK', () => {
  it('UDP: the ACK is lost, the retry is dropped as a duplicate by the receiver but still delivered', async () => {
    const proxy = await lossyUdpProxy(rx.udpPort, 1);
    try {
      const { fwd } = await forwarder({ transport: 'udp', port: proxy.port, ackTimeoutMs: 300 });
      const msg = message('1234');
      const dups = rx.stats().duplicates;
      expect(await fwd.send(msg, never())).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/no answer/) });
      expect(received('1234', msg.seq)).toHaveLength(1);
      expect(await fwd.send({ ...msg, attempt: 2 }, never())).toMatchObject({ outcome: 'delivered' });
      expect(rx.stats().duplicates).toBe(dups + 1);
      expect(received('1234', msg.seq)).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('TCP: an ACK too late for the timeout; the retry (same seq) is a duplicate, delivered once', async () => {
    const { fwd } = await forwarder({ transport: 'tcp', port: rx.tcpPort, ackTimeoutMs: 300, format: 'adm-cid' });
    const msg = message('1234');
    slowOnce.add(msg.seq);
    const dups = rx.stats().duplicates;
    expect(await fwd.send(msg, never())).toMatchObject({ outcome: 'retry' });
    await waitFor(() => received('1234', msg.seq).length === 1, 2000, 'slow delivery');
    expect(await fwd.send({ ...msg, attempt: 2 }, never())).toMatchObject({ outcome: 'delivered' });
    expect(rx.stats().duplicates).toBe(dups + 1);
    expect(received('1234', msg.seq)).toHaveLength(1);
  });
});

/** A raw DC-09 "receiver" over TCP whose answers the test scripts frame by frame. */
async function scriptedTcpReceiver(answer: (frame: Dc09Frame, socket: net.Socket) => void): Promise<{
  port: number;
  frames: Array<{ frame: Dc09Frame; at: number }>;
  connections: () => number;
  close(): Promise<void>;
}> {
  const frames: Array<{ frame: Dc09Frame; at: number }> = [];
  const sockets = new Set<net.Socket>();
  let total = 0;
  const server = net.createServer((socket) => {
    total++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const splitter = new Dc09StreamSplitter();
    socket.on('data', (chunk) => {
      for (const raw of splitter.push(chunk)) {
        const r = parseFrame(raw);
        if (!r.ok) continue;
        frames.push({ frame: r.frame, at: Date.now() });
        answer(r.frame, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    frames,
    connections: () => total,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const ackTo = (f: Dc09Frame, over: Partial<Dc09Frame> = {}) => ackFrame({ ...f, ...over });

describe('answers and the TCP link', () => {
  it('an ACK for another sequence is ignored; the one for ours delivers', async () => {
    const srv = await scriptedTcpReceiver((f, s) => {
      s.write(ackTo(f, { seq: f.seq === 1 ? 2 : 1 }));
      setTimeout(() => s.write(ackTo(f)), 100);
    });
    try {
      const { fwd } = await forwarder({ transport: 'tcp', port: srv.port });
      const t0 = Date.now();
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    } finally {
      await srv.close();
    }
  });

  it('only ACKs for other sequences: retry after the ACK timeout', async () => {
    const srv = await scriptedTcpReceiver((f, s) => s.write(ackTo(f, { seq: f.seq + 1 })));
    try {
      const { fwd } = await forwarder({ transport: 'tcp', port: srv.port, ackTimeoutMs: 300 });
      const t0 = Date.now();
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/no answer/) });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      await srv.close();
    }
  });

  it('heartbeats never interleave with an alarm exchange on the TCP connection', async () => {
    const ALARM_ACK_DELAY = 400;
    const srv = await scriptedTcpReceiver((f, s) => {
      if (f.id === 'NULL') s.write(ackTo(f));
      else setTimeout(() => s.write(ackTo(f)), ALARM_ACK_DELAY);
    });
    try {
      const { fwd } = await forwarder({ transport: 'tcp', port: srv.port, account: '1234', heartbeatMs: 40, ackTimeoutMs: 1000 });
      await waitFor(() => srv.frames.filter((f) => f.frame.id === 'NULL').length >= 2, 2000, 'heartbeats');
      const msg = message('1234');
      expect(await fwd.send(msg, never())).toMatchObject({ outcome: 'delivered' });
      await sleep(150);
      const alarmAt = srv.frames.find((f) => f.frame.id === 'SIA-DCS')!.at;
      const during = srv.frames.filter((f) => f.frame.id === 'NULL' && f.at > alarmAt && f.at < alarmAt + ALARM_ACK_DELAY - 20);
      expect(during).toEqual([]);
      // Heartbeats went on after the alarm, with their own sequence counter starting at 1.
      const nulls = srv.frames.filter((f) => f.frame.id === 'NULL');
      expect(nulls.some((f) => f.at > alarmAt + ALARM_ACK_DELAY)).toBe(true);
      expect(nulls.slice(0, 3).map((f) => f.frame.seq)).toEqual([1, 2, 3]);
      expect(srv.connections()).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('keeps one connection for many sends, and reconnects after the receiver hangs up', async () => {
    const perSocket = new WeakMap<net.Socket, number>();
    const srv = await scriptedTcpReceiver((f, s) => {
      s.write(ackTo(f));
      const n = (perSocket.get(s) ?? 0) + 1;
      perSocket.set(s, n);
      // Hang up after the third message's ACK, as some receivers do after every answer.
      if (n === 3) s.end();
    });
    try {
      const { fwd } = await forwarder({ transport: 'tcp', port: srv.port });
      for (let i = 0; i < 3; i++) expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(srv.connections()).toBe(1);
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'delivered' });
      expect(srv.connections()).toBe(2);
      // The 4th frame may have gone out on the dying connection before its FIN arrived; then it
      // was written again, same sequence, on the new one.
      const seqs = srv.frames.map((f) => f.frame.seq);
      expect(new Set(seqs).size).toBe(4);
      expect(seqs.length === 4 || (seqs.length === 5 && seqs[3] === seqs[4])).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('gives up at once when the signal aborts, and never throws', async () => {
    const srv = await scriptedTcpReceiver(() => undefined);
    try {
      const { fwd } = await forwarder({ transport: 'tcp', port: srv.port, ackTimeoutMs: 10_000 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const t0 = Date.now();
      expect(await fwd.send(message('1234'), ac.signal)).toMatchObject({ outcome: 'retry', reason: expect.stringMatching(/abort/) });
      expect(Date.now() - t0).toBeLessThan(1000);
      // An already aborted signal: nothing is sent.
      const before = srv.frames.length;
      expect(await fwd.send(message('1234'), AbortSignal.abort())).toMatchObject({ outcome: 'retry' });
      expect(srv.frames.length).toBe(before);
    } finally {
      await srv.close();
    }
  });

  it('an aborted send does not count as path trouble; a DUH for an unreadable header (seq 0000) rejects', async () => {
    // What a receiver sends when it could not read the header: DUH, seq 0000, L0, no account.
    const srv = await scriptedTcpReceiver((_f, s) => s.write(duhFrame({})));
    try {
      const { fwd, health } = await forwarder({ transport: 'tcp', port: srv.port, failAfter: 1 });
      expect(await fwd.send(message('1234'), AbortSignal.abort())).toMatchObject({ outcome: 'retry' });
      expect(health).toEqual([]);
      expect(await fwd.send(message('1234'), never())).toMatchObject({ outcome: 'rejected' });
      expect(health).toEqual([expect.objectContaining({ up: false })]);
    } finally {
      await srv.close();
    }
  });
});
