/**
 * The DC-09 receiver over real TCP and UDP sockets on 127.0.0.1 with its real (system) clock:
 * answers to valid, badly clocked, unprocessable, corrupted and duplicated frames, line
 * supervision, and 10,000 mutated frames that must not bring it down.
 */
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFrame,
  contactIdData,
  Dc09StreamSplitter,
  locationFields,
  nullFrame,
  parseFrame,
  siaDcsData,
  verificationField,
  type Dc09Frame,
} from '../../gateway/src/alarms/dc09/index.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-receiver.js';
import { FUZZ_SEEDS, handFrame, KEY128, KEY256, mutate, prng, PUBLIC_VECTOR, repair } from '../unit/dc09-hand-frames.js';
import { sleep, waitFor } from '../helpers/processes.js';

const HOST = '127.0.0.1';

/** A transmitter's end of a TCP connection: send bytes, read answers frame by frame. */
class TcpPeer {
  private readonly splitter = new Dc09StreamSplitter();
  private readonly frames: Buffer[] = [];
  private waiters: Array<(f: Buffer) => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const f of this.splitter.push(chunk)) {
        const w = this.waiters.shift();
        if (w) w(f);
        else this.frames.push(f);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, HOST, () => resolve(new TcpPeer(s)));
      s.once('error', reject);
    });
  }

  send(buf: Buffer | string): void {
    this.socket.write(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf);
  }

  next(timeoutMs = 3000): Promise<Buffer> {
    const ready = this.frames.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (f: Buffer) => {
        clearTimeout(t);
        resolve(f);
      };
      this.waiters.push(done);
    });
  }

  get buffered(): number {
    return this.frames.length;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Send one datagram and wait for the first answer (or null after timeoutMs). */
function udpExchange(port: number, frame: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (msg) => {
      clearTimeout(t);
      s.close();
      resolve(msg);
    });
    s.send(frame, port, HOST);
  });
}

function parsed(buf: Buffer, key?: Buffer): Dc09Frame {
  const r = parseFrame(buf, key ? { keys: () => key } : {});
  if (!r.ok) throw new Error(`answer does not parse: ${r.error.message}: ${JSON.stringify(buf.toString('latin1'))}`);
  return r.frame;
}

const cid = (seq: number, account: string, opts: { at?: Date | null; key?: Buffer; zone?: number } = {}) =>
  buildFrame({
    id: 'ADM-CID',
    seq,
    line: '2',
    account,
    data: contactIdData({ account, qualifier: 1, event: 120, group: 1, zone: opts.zone ?? 3 }),
    ...(opts.at !== undefined ? { timestamp: opts.at } : {}),
    ...(opts.key ? { key: opts.key } : {}),
  });

let rx: Dc09Receiver;
const events: Dc09ReceivedEvent[] = [];
const lost: string[] = [];
const restored: string[] = [];
const peers: TcpPeer[] = [];

async function peer(): Promise<TcpPeer> {
  const p = await TcpPeer.connect(rx.tcpPort);
  peers.push(p);
  return p;
}

beforeAll(async () => {
  rx = await startDc09Receiver({
    host: HOST,
    tcpPort: 0,
    udpPort: 0,
    accounts: [
      { account: '1234' },
      { account: 'BEEF', key: KEY128.toString('hex') },
      { account: 'C0FFEE', key: KEY256.toString('hex') },
      { account: '5151', supervisionMs: 400 },
    ],
    windowMs: { past: 40_000, future: 20_000 },
    onEvent: (ev) => void events.push(ev),
    onLineLost: (a) => lost.push(a),
    onLineRestored: (a) => restored.push(a),
    log: silentLogger(),
  });
});

afterAll(async () => {
  for (const p of peers) p.close();
  await rx?.stop();
});

describe('DC-09 receiver over TCP and UDP', () => {
  it('listens on ephemeral ports on 127.0.0.1', () => {
    expect(rx.tcpPort).toBeGreaterThan(0);
    expect(rx.udpPort).toBeGreaterThan(0);
  });

  it('ACKs the public vector over TCP with seq, R, L and account echoed', async () => {
    const p = await peer();
    p.send(PUBLIC_VECTOR);
    const ack = await p.next();
    expect(ack.toString('latin1')).toBe('\n61DB0016"ACK"0001RF3L77#1234[]\r');
    await waitFor(() => events.find((e) => e.data === '#1234|NRR|Atest'), 2000, 'event');
  });

  it('ACKs over UDP too', async () => {
    const frame = buildFrame({ id: 'SIA-DCS', seq: 2, receiver: 'F3', line: '77', account: '1234', data: siaDcsData({ account: '1234', events: [{ code: 'PA', address: '501', area: 1 }] }) });
    const ack = await udpExchange(rx.udpPort, frame);
    expect(ack).not.toBeNull();
    expect(parsed(ack!)).toMatchObject({ id: 'ACK', seq: 2, receiver: 'F3', line: '77', account: '1234' });
    const ev = await waitFor(() => events.find((e) => e.seq === 2 && e.transport === 'udp'), 2000, 'udp event');
    expect(ev.sia?.events).toEqual([{ code: 'PA', address: '501', area: 1 }]);
    expect(ev.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('delivers an encrypted ADM-CID with location and camera URL and answers with an encrypted ACK', async () => {
    const p = await peer();
    p.send(
      buildFrame({
        id: 'ADM-CID',
        seq: 31,
        line: '2',
        account: 'C0FFEE',
        data: contactIdData({ account: 'C0FFEE', qualifier: 1, event: 120, group: 2, zone: 7 }),
        extended: [...locationFields({ lat: 22.54, lon: 113.93 }), verificationField('http://127.0.0.1/cam/7.jpg')],
        key: KEY256,
      }),
    );
    const ack = parsed(await p.next(), KEY256);
    expect(ack).toMatchObject({ id: 'ACK', encrypted: true, seq: 31, account: 'C0FFEE' });
    expect(Math.abs(ack.timestamp!.getTime() - Date.now())).toBeLessThan(5_000);
    const ev = await waitFor(() => events.find((e) => e.account === 'C0FFEE' && e.seq === 31), 2000, 'event');
    expect(ev.contactId).toEqual({ account: 'C0FFEE', qualifier: 1, event: 120, group: 2, zone: 7 });
    expect(ev.location).toEqual({ lat: 22.54, lon: 113.93 });
    expect(ev.verificationUrl).toBe('http://127.0.0.1/cam/7.jpg');
  });

  it('NAKs a frame outside the window with its own, parseable time (TCP and UDP)', async () => {
    const p = await peer();
    const stale = new Date(Date.now() - 5 * 60_000);
    const before = Date.now();
    p.send(cid(40, '1234', { at: stale }));
    const nak = parsed(await p.next());
    expect(nak).toMatchObject({ id: 'NAK', seq: 0, receiver: '0', line: '0A0', account: undefined });
    // The NAK carries whole seconds of the receiver's clock.
    expect(nak.timestamp!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(nak.timestamp!.getTime()).toBeLessThanOrEqual(Date.now());

    const future = await udpExchange(rx.udpPort, cid(41, '1234', { at: new Date(Date.now() + 60_000) }));
    expect(parsed(future!).id).toBe('NAK');
    expect(events.some((e) => e.seq === 40 || e.seq === 41)).toBe(false);
  });

  it('answers DUH to what it cannot process', async () => {
    const p = await peer();
    const cases: Array<[string, Buffer, number]> = [
      ['unknown account', cid(50, '9999'), 50],
      ['plain frame for an encrypted account', cid(51, 'BEEF'), 51],
      ['wrong key', cid(52, 'BEEF', { key: Buffer.alloc(16, 0x55) }), 52],
      ['no key configured for an encrypted frame', cid(53, '1234', { key: KEY128 }), 53],
      ['data that is not Contact ID', handFrame('"ADM-CID"0054L2#1234[#1234|NBA1]'), 54],
      ['unsupported ID', handFrame('"SIA-XYZ"0055L2#1234[#1234|NBA1]'), 55],
    ];
    for (const [name, frame, seq] of cases) {
      p.send(frame);
      const duh = parsed(await p.next());
      expect(duh.id, name).toBe('DUH');
      expect(duh.seq, name).toBe(seq);
    }
    const overUdp = await udpExchange(rx.udpPort, cid(56, '9999'));
    expect(parsed(overUdp!)).toMatchObject({ id: 'DUH', seq: 56, account: '9999' });
    expect(events.some((e) => e.seq >= 50 && e.seq <= 56)).toBe(false);
  });

  it('ignores a frame with a bad CRC (no answer) and answers the next one', async () => {
    const p = await peer();
    const good = cid(60, '1234');
    const bad = Buffer.from(good);
    bad[1] = bad[1] === 0x30 ? 0x31 : 0x30; // corrupt the CRC field
    const before = rx.stats().crcErrors;
    p.send(bad);
    p.send(cid(61, '1234'));
    // Answers come in order, so if the bad frame had been answered, that answer would be first.
    expect(parsed(await p.next())).toMatchObject({ id: 'ACK', seq: 61 });
    expect(rx.stats().crcErrors).toBe(before + 1);
    const udp = await udpExchange(rx.udpPort, bad, 500);
    expect(udp).toBeNull();
  });

  it('drops a duplicate but still ACKs it (TCP then UDP, the encrypted retry re-padded)', async () => {
    const p = await peer();
    const frame = cid(70, '1234', { zone: 70 });
    p.send(frame);
    p.send(frame);
    expect(parsed(await p.next())).toMatchObject({ id: 'ACK', seq: 70 });
    expect(parsed(await p.next())).toMatchObject({ id: 'ACK', seq: 70 });
    expect(parsed((await udpExchange(rx.udpPort, frame))!)).toMatchObject({ id: 'ACK', seq: 70 });

    p.send(cid(71, 'BEEF', { key: KEY128 }));
    p.send(cid(71, 'BEEF', { key: KEY128 })); // new pad, new ciphertext, same message
    expect(parsed(await p.next(), KEY128).seq).toBe(71);
    expect(parsed(await p.next(), KEY128).seq).toBe(71);
    await sleep(50);
    expect(events.filter((e) => e.seq === 70)).toHaveLength(1);
    expect(events.filter((e) => e.seq === 71)).toHaveLength(1);
    expect(rx.stats().duplicates).toBeGreaterThanOrEqual(3);
  });

  it('answers several frames in one write, and a frame split over many writes, in order', async () => {
    const p = await peer();
    p.send(Buffer.concat([cid(80, '1234'), Buffer.from('noise'), cid(81, '1234'), cid(82, '1234')]));
    const whole = cid(83, '1234');
    for (let i = 0; i < whole.length; i += 7) {
      p.send(whole.subarray(i, i + 7));
      await sleep(2);
    }
    const seqs = [];
    for (let i = 0; i < 4; i++) seqs.push(parsed(await p.next()).seq);
    expect(seqs).toEqual([80, 81, 82, 83]);
  });

  it('reports the line lost after the supervision window and restored by a NULL', async () => {
    await waitFor(() => lost.includes('5151'), 5000, 'line lost');
    expect(rx.stats().linesLost).toContain('5151');
    const ack = await udpExchange(rx.udpPort, nullFrame({ seq: 1, line: '0', account: '5151' }));
    expect(parsed(ack!)).toMatchObject({ id: 'ACK', seq: 1, account: '5151' });
    await waitFor(() => restored.includes('5151'), 2000, 'line restored');
    expect(rx.stats().linesLost).not.toContain('5151');
    // And it is lost again if it falls silent again.
    await waitFor(() => lost.filter((a) => a === '5151').length === 2, 5000, 'line lost again');
  });

  it('survives 10,000 mutated frames over TCP and UDP and still ACKs afterwards', async () => {
    const rnd = prng(977);
    const mutants: Buffer[] = [];
    for (let n = 0; n < 10_000; n++) {
      let m = mutate(FUZZ_SEEDS[n % FUZZ_SEEDS.length]!, rnd);
      if (rnd() < 0.5) m = repair(m) ?? m;
      mutants.push(m);
    }
    const framesBefore = rx.stats().frames;

    // Half as one TCP stream in random-sized writes.
    const p = await peer();
    const stream = Buffer.concat(mutants.slice(0, 5_000));
    for (let pos = 0; pos < stream.length; ) {
      const len = 1 + Math.floor(rnd() * 2000);
      p.send(stream.subarray(pos, pos + len));
      pos += len;
      if (pos % 20 === 0) await sleep(0);
    }
    // Half as UDP datagrams, paced so the loopback buffer is not the thing being tested.
    const udp = createSocket('udp4');
    udp.on('message', () => undefined);
    await new Promise<void>((r) => udp.bind(0, HOST, () => r()));
    for (let i = 5_000; i < 10_000; i++) {
      udp.send(mutants[i]!, rx.udpPort, HOST);
      if (i % 100 === 0) await sleep(1);
    }
    await sleep(200);
    udp.close();

    // The stream connection is still being served: a valid frame after it is ACKed.
    p.send(cid(90, '1234'));
    let answer: Dc09Frame | undefined;
    for (;;) {
      const f = parseFrame(await p.next(5000));
      if (f.ok && f.frame.id === 'ACK' && f.frame.seq === 90 && f.frame.account === '1234') {
        answer = f.frame;
        break;
      }
    }
    expect(answer).toBeDefined();
    expect(parsed((await udpExchange(rx.udpPort, cid(91, '1234')))!)).toMatchObject({ id: 'ACK', seq: 91 });
    const s = rx.stats();
    expect(s.frames - framesBefore).toBeGreaterThan(5_000);
    expect(s.crcErrors + s.lengthErrors).toBeGreaterThan(1_000);
    expect(s.duhed).toBeGreaterThan(100);
    expect(s.garbageBytes).toBeGreaterThan(0);
  });

  it('stop() closes both sockets', async () => {
    const tcpPort = rx.tcpPort;
    await rx.stop();
    await expect(TcpPeer.connect(tcpPort)).rejects.toThrow();
    expect(rx.stats().tcpConnections).toBe(0);
  });
});
