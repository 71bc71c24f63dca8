/**
 * Interop: our DC-09 frames against an independent receiver, the `sia` class of the npm package
 * iobroker.sia 2.0.4 (MIT, build/lib/sia.js). It is fetched with `npm pack` into a cache under
 * os.tmpdir() - never into this project's node_modules - and checked against the registry's
 * published shasum before use.
 *
 * Loading it standalone: build/lib/sia.js needs only Node built-ins and ./tools; tools.js
 * require()s `axios` and `node-ssh` at load time but uses them only in _translateText() and
 * sendSSH(), never on the receive path (parseSIA, createACK, createNACK, the TCP/UDP servers).
 * Those two are not installed here, so the cache gets two stub modules that throw if they are
 * ever called. @iobroker/adapter-core is needed only by build/main.js (the ioBroker adapter
 * wrapper), which this test does not load.
 */
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFrame,
  contactIdData,
  Dc09StreamSplitter,
  locationFields,
  parseFrame,
  siaDcsData,
  type BuildFrameOptions,
  type Dc09Frame,
} from '../../gateway/src/alarms/dc09/index.js';
import { IOBROKER_SIA_PACKAGE, startIoBrokerSia, type IoBrokerSiaMessage, type IoBrokerSiaServer } from '../helpers/iobroker-sia.js';
import { KEY128, KEY192, KEY256 } from '../unit/dc09-hand-frames.js';

const HOST = '127.0.0.1';

let server: IoBrokerSiaServer;
let tcpPort: number;
let udpPort: number;
let received: IoBrokerSiaMessage[] = [];
let refused: string[] = [];

beforeAll(async () => {
  // The shared helper packs, checks and starts their receiver (test/helpers/iobroker-sia.ts).
  server = await startIoBrokerSia({
    timeout: 30,
    sockend: true,
    accounts: [
      { accountnumber: '1234', aes: false },
      { accountnumber: 'A128', aes: true, hex: true, password: KEY128.toString('hex') },
      { accountnumber: 'A192', aes: true, hex: true, password: KEY192.toString('hex') },
      { accountnumber: 'A256', aes: true, hex: true, password: KEY256.toString('hex') },
    ],
  });
  ({ tcpPort, udpPort, received, refused } = server);
});

afterAll(async () => {
  await server?.stop();
});

function overTcp(frame: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const splitter = new Dc09StreamSplitter();
    const s = net.connect(tcpPort, HOST, () => s.write(frame));
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer from iobroker.sia'));
    }, 3000);
    s.on('data', (chunk) => {
      const [f] = splitter.push(chunk);
      if (f) {
        clearTimeout(t);
        s.end();
        resolve(f);
      }
    });
    s.on('error', reject);
  });
}

function overUdp(frame: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('no UDP answer from iobroker.sia'));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(frame, udpPort, HOST);
  });
}

function answer(buf: Buffer, key?: Buffer): Dc09Frame {
  const r = parseFrame(buf, key ? { keys: () => key } : {});
  if (!r.ok) throw new Error(`iobroker.sia answer does not parse with ours: ${r.error.message}: ${JSON.stringify(buf.toString('latin1'))}`);
  return r.frame;
}

const VARIANTS: Array<[string, string, Buffer | undefined]> = [
  ['plain', '1234', undefined],
  ['AES-128', 'A128', KEY128],
  ['AES-192', 'A192', KEY192],
  ['AES-256', 'A256', KEY256],
];

let seq = 100;

describe(`our frames against ${IOBROKER_SIA_PACKAGE}`, () => {
  describe.each(VARIANTS)('%s', (variant, account, key) => {
    const frames: Array<[string, () => BuildFrameOptions]> = [
      ['ADM-CID', () => ({ id: 'ADM-CID', seq: ++seq, line: '1', account, data: contactIdData({ account, qualifier: 1, event: 120, group: 1, zone: 15 }) })],
      ['SIA-DCS', () => ({ id: 'SIA-DCS', seq: ++seq, receiver: 'F3', line: '77', account, data: siaDcsData({ account, events: [{ code: 'PA', address: '501', area: 1 }] }) })],
    ];
    it.each(frames)('%s over TCP is ACKed, and it reads the same data we sent', async (_id, make) => {
      const opts = make();
      const ack = answer(await overTcp(buildFrame({ ...opts, ...(key ? { key } : {}) })), key);
      expect(ack).toMatchObject({ id: 'ACK', encrypted: key !== undefined, seq: opts.seq, line: opts.line, account });
      if (opts.receiver) expect(ack.receiver).toBe(opts.receiver);
      const got = received.find((m) => m.act === account && Number(m.seq) === opts.seq);
      expect(got, `${variant} ${opts.id}: ${refused.join('; ')}`).toBeDefined();
      expect(got!.id).toBe(`${key ? '*' : ''}${opts.id}`);
      expect(got!.data_message).toBe(opts.data);
      expect(got!.ts).toMatch(/^\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/);
    });

    it('ADM-CID over UDP is ACKed', async () => {
      const s = ++seq;
      const frame = buildFrame({ id: 'ADM-CID', seq: s, line: '0', account, data: contactIdData({ account, qualifier: 3, event: 137, group: 2, zone: 9 }), ...(key ? { key } : {}) });
      expect(answer(await overUdp(frame), key)).toMatchObject({ id: 'ACK', seq: s, account });
    });
  });

  it('accepts extended data (location) in front of the timestamp', async () => {
    const s = ++seq;
    const frame = buildFrame({
      id: 'SIA-DCS',
      seq: s,
      line: '0',
      account: 'A256',
      data: siaDcsData({ account: 'A256', events: [{ code: 'PA', address: '1' }] }),
      extended: locationFields({ lat: 22.54, lon: 113.93 }),
      key: KEY256,
    });
    expect(answer(await overTcp(frame), KEY256)).toMatchObject({ id: 'ACK', seq: s });
    expect(received.find((m) => Number(m.seq) === s)?.data_extended).toBe('XE113.93');
  });

  it('is not a yes-machine: a frame with a broken CRC gets its NAK, which our parser reads', async () => {
    const good = buildFrame({ id: 'ADM-CID', seq: ++seq, line: '1', account: '1234', data: contactIdData({ account: '1234', qualifier: 1, event: 120, group: 1, zone: 1 }) });
    const bad = Buffer.from(good);
    bad[1] = bad[1] === 0x30 ? 0x31 : 0x30;
    const nak = answer(await overTcp(bad));
    expect(nak).toMatchObject({ id: 'NAK', seq: 0 });
    expect(Math.abs(nak.timestamp!.getTime() - Date.now())).toBeLessThan(5_000);
  });

  it('refuses a frame encrypted with the wrong key (NAK)', async () => {
    // Fixed pad and timestamp: the ciphertext is the same on every run. (iobroker.sia checks the
    // decrypted text only with a loose regex, so about one random wrong-key frame in seven gets
    // ACKed - a finding about it, reported in docs/dc09.md - and a random pad would make this flaky.)
    const frame = buildFrame({
      id: 'ADM-CID',
      seq: 4321,
      line: '1',
      account: 'A128',
      data: contactIdData({ account: 'A128', qualifier: 1, event: 120, group: 1, zone: 1 }),
      timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, 0)),
      key: Buffer.alloc(16, 0x55),
      pad: 'k9TqW2xZ7',
    });
    expect(answer(await overTcp(frame)).id).toBe('NAK');
  });
});
