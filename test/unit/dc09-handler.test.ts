/**
 * The receiver's protocol rules (Dc09FrameHandler + LineSupervision) with a manual clock: the
 * answer to every kind of frame, the time window edges, duplicates, onEvent failures, and line
 * supervision. The socket side is covered by test/integration/dc09-receiver.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  buildFrame,
  contactIdData,
  formatTimestamp,
  parseFrame,
  siaDcsData,
} from '../../gateway/src/alarms/dc09/index.js';
import { silentLogger } from '../../gateway/src/log.js';
import { accountTable, parseDc09ReceiverConfig, type Dc09ReceiverConfigInput } from '../../gateway/src/station/dc09-config.js';
import { Dc09FrameHandler, type Dc09ReceivedEvent } from '../../gateway/src/station/dc09-handler.js';
import { LineSupervision } from '../../gateway/src/station/dc09-supervision.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { handEncrypt, handFrame, KEY128, PUBLIC_VECTOR } from './dc09-hand-frames.js';
import { ManualClock } from './polling-fakes.js';

const KEY_HEX = KEY128.toString('hex');
const FROM = { transport: 'tcp' as const, remote: '127.0.0.1:5000' };

function setup(over: Partial<Dc09ReceiverConfigInput> = {}, onEvent?: (ev: Dc09ReceivedEvent) => void | Promise<void>) {
  const clock = new ManualClock(Date.UTC(2025, 5, 1, 12, 0, 0));
  const cfg = parseDc09ReceiverConfig({
    accounts: [{ account: '1234' }, { account: 'ABCD', key: KEY_HEX }, { account: '777', supervisionMs: 60_000 }],
    ...over,
  });
  const lost: string[] = [];
  const restored: string[] = [];
  const supervision = new LineSupervision(clock, { onLost: (a) => lost.push(a), onRestored: (a) => restored.push(a) });
  const events: Dc09ReceivedEvent[] = [];
  const handler = new Dc09FrameHandler({
    accounts: accountTable(cfg),
    windowMs: cfg.windowMs,
    dedupeMs: cfg.dedupeMs,
    clock,
    log: silentLogger(),
    supervision,
    onEvent: onEvent ?? ((ev) => void events.push(ev)),
  });
  for (const a of accountTable(cfg).values()) if (a.supervisionMs) supervision.watch(a.account, a.supervisionMs);
  return { clock, handler, events, lost, restored, supervision };
}

const cid = (seq: number, opts: { account?: string; at?: Date | null; key?: Buffer; zone?: number } = {}) =>
  buildFrame({
    id: 'ADM-CID',
    seq,
    line: '1',
    account: opts.account ?? '1234',
    data: contactIdData({ account: opts.account ?? '1234', qualifier: 1, event: 120, group: 1, zone: opts.zone ?? 5 }),
    timestamp: opts.at === undefined ? null : opts.at,
    ...(opts.key ? { key: opts.key } : {}),
  });

function replyText(reply: Buffer | null): string {
  return reply === null ? '(silence)' : reply.toString('latin1');
}

describe('Dc09FrameHandler answers', () => {
  it('ACKs the public vector and delivers the SIA-DCS event', async () => {
    const { handler, events } = setup();
    const out = await handler.handle(Buffer.from(PUBLIC_VECTOR, 'latin1'), FROM);
    expect(out.answer).toBe('ack');
    expect(replyText(out.reply)).toBe('\n61DB0016"ACK"0001RF3L77#1234[]\r');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ account: '1234', id: 'SIA-DCS', seq: 1, sia: { events: [{ code: 'RR' }], text: 'test' }, transport: 'tcp' });
  });

  it('delivers ADM-CID with the parsed Contact ID', async () => {
    const { handler, events, clock } = setup();
    const out = await handler.handle(cid(8, { at: new Date(clock.now()) }), FROM);
    expect(out.answer).toBe('ack');
    expect(events[0]?.contactId).toEqual({ account: '1234', qualifier: 1, event: 120, group: 1, zone: 5 });
    expect(events[0]?.transmitterTime?.getTime()).toBe(clock.now());
  });

  it('accepts timestamps exactly at the window edges, NAKs one second beyond', async () => {
    const { handler, clock } = setup();
    const now = clock.now();
    expect((await handler.handle(cid(1, { at: new Date(now - 40_000) }), FROM)).answer).toBe('ack');
    expect((await handler.handle(cid(2, { at: new Date(now + 20_000) }), FROM)).answer).toBe('ack');
    const past = await handler.handle(cid(3, { at: new Date(now - 41_000) }), FROM);
    expect(past.answer).toBe('nak');
    expect(replyText(past.reply)).toBe(handFrame(`"NAK"0000R0L0A0[]${formatTimestamp(new Date(now))}`).toString('latin1'));
    expect((await handler.handle(cid(4, { at: new Date(now + 21_000) }), FROM)).answer).toBe('nak');
    expect(handler.stats).toMatchObject({ acked: 2, naked: 2, events: 2 });
  });

  it('honours a configured window', async () => {
    const { handler, clock } = setup({ windowMs: { past: 5_000, future: 0 } });
    expect((await handler.handle(cid(1, { at: new Date(clock.now() - 6_000) }), FROM)).answer).toBe('nak');
    expect((await handler.handle(cid(2, { at: new Date(clock.now() + 1_000) }), FROM)).answer).toBe('nak');
    expect((await handler.handle(cid(3, { at: new Date(clock.now() - 5_000) }), FROM)).answer).toBe('ack');
  });

  it('accepts a plain frame without timestamp (optional when unencrypted)', async () => {
    const { handler } = setup();
    expect((await handler.handle(cid(1), FROM)).answer).toBe('ack');
  });

  it.each<[string, () => Buffer]>([
    ['unknown account', () => cid(5, { account: '9999' })],
    ['no account', () => handFrame('"ADM-CID"0005L1[#1234|1120 01 005]')],
    ['unsupported ID', () => handFrame('"SIA-XYZ"0005L1#1234[#1234|NRR]')],
    ['ADM-CID data that is not Contact ID', () => handFrame('"ADM-CID"0005L1#1234[#1234|NRR]')],
    ['SIA-DCS data that is not SIA', () => handFrame('"SIA-DCS"0005L1#1234[#1234|1120 01 005]')],
    ['plain frame for an account that has a key', () => cid(5, { account: 'ABCD' })],
    ['encrypted frame for an account without a key', () => cid(5, { account: '1234', at: new Date(Date.UTC(2025, 5, 1, 12, 0, 0)), key: KEY128 })],
    ['encrypted frame with the wrong key', () => cid(5, { account: 'ABCD', at: new Date(Date.UTC(2025, 5, 1, 12, 0, 0)), key: Buffer.alloc(16, 7) })],
    ['intact but unreadable header', () => handFrame('"SIA-DCS"05L1#1234[#1234|NRR]')],
    ['trailing junk after the data', () => handFrame('"SIA-DCS"0005L1#1234[#1234|NRR]junk')],
  ])('DUH: %s', async (_name, make) => {
    const { handler, events } = setup();
    const out = await handler.handle(make(), FROM);
    expect(out.answer, out.reason).toBe('duh');
    const r = parseFrame(out.reply!);
    expect(r.ok && r.frame.id).toBe('DUH');
    expect(events).toHaveLength(0);
  });

  it('DUH echoes the header of the message it refuses', async () => {
    const { handler } = setup();
    const out = await handler.handle(handFrame('"ADM-CID"0321R2L9#9999[#9999|1120 01 005]'), FROM);
    expect(replyText(out.reply)).toBe(handFrame('"DUH"0321R2L9#9999[]').toString('latin1'));
  });

  it('DUH: encrypted frame without timestamp', async () => {
    const { handler } = setup();
    const plain = `${'p'.repeat(13)}|#ABCD|1120 01 005]`; // 13 + 1 + 18 = 32
    expect(plain.length).toBe(32);
    const out = await handler.handle(handFrame(`"*ADM-CID"0005L1#ABCD[${handEncrypt(plain, KEY128)}`), FROM);
    expect(out.answer).toBe('duh');
  });

  it('stays silent on a bad CRC or length, and on responses', async () => {
    const { handler, events } = setup();
    const body = '"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]';
    for (const frame of [
      handFrame(body, { crc: '0000' }),
      handFrame(body, { len: '0030' }),
      handFrame('"ACK"0001RF3L77#1234[]'),
      handFrame('"DUH"0001L0#1234[]'),
      handFrame('"NAK"0000R0L0A0[]_12:00:00,06-01-2025'),
      handFrame('"ACK"0001RF3L77#1234[]junk'),
    ]) {
      const out = await handler.handle(frame, FROM);
      expect(out.answer, out.reason).toBe('none');
      expect(out.reply).toBeNull();
    }
    expect(events).toHaveLength(0);
    expect(handler.stats).toMatchObject({ crcErrors: 1, lengthErrors: 1, ignored: 6 });
  });

  it('answers an encrypted message with an encrypted ACK the sender can read', async () => {
    const { handler, events, clock } = setup();
    const out = await handler.handle(cid(9, { account: 'ABCD', at: new Date(clock.now()), key: KEY128 }), FROM);
    expect(out.answer).toBe('ack');
    const r = parseFrame(out.reply!, { keys: () => KEY128 });
    expect(r.ok && r.frame).toMatchObject({ id: 'ACK', encrypted: true, seq: 9, account: 'ABCD' });
    expect(r.ok && r.frame.timestamp?.getTime()).toBe(clock.now());
    expect(events[0]).toMatchObject({ account: 'ABCD', encrypted: true });
  });

  it('matches accounts case-insensitively (hex)', async () => {
    const { handler, clock } = setup();
    expect((await handler.handle(cid(1, { account: 'abcd', at: new Date(clock.now()), key: KEY128 }), FROM)).answer).toBe('ack');
  });

  it('ACKs a NULL link test without delivering it', async () => {
    const { handler, events, clock } = setup();
    const out = await handler.handle(buildFrame({ id: 'NULL', seq: 1, line: '0', account: '1234', data: '', timestamp: new Date(clock.now()) }), FROM);
    expect(out.answer).toBe('ack');
    expect(events).toHaveLength(0);
    expect(handler.stats.nullMessages).toBe(1);
  });
});

describe('duplicates', () => {
  it('ACKs a retransmission (same account, seq, content) but delivers it once', async () => {
    const { handler, events } = setup();
    const a = await handler.handle(Buffer.from(PUBLIC_VECTOR, 'latin1'), FROM);
    const b = await handler.handle(Buffer.from(PUBLIC_VECTOR, 'latin1'), { transport: 'udp', remote: '127.0.0.1:6000' });
    expect(a.answer).toBe('ack');
    expect(b).toMatchObject({ answer: 'ack', duplicate: true });
    expect(events).toHaveLength(1);
    expect(handler.stats.duplicates).toBe(1);
  });

  it('treats an encrypted retry with a new pad and timestamp as the same message', async () => {
    const { handler, events, clock } = setup();
    await handler.handle(cid(5, { account: 'ABCD', at: new Date(clock.now()), key: KEY128 }), FROM);
    await clock.advance(3_000);
    const retry = await handler.handle(cid(5, { account: 'ABCD', at: new Date(clock.now()), key: KEY128 }), FROM);
    expect(retry).toMatchObject({ answer: 'ack', duplicate: true });
    expect(events).toHaveLength(1);
  });

  it('delivers the same sequence number again when the content differs', async () => {
    const { handler, events } = setup();
    await handler.handle(cid(5, { zone: 1 }), FROM);
    await handler.handle(cid(5, { zone: 2 }), FROM);
    expect(events.map((e) => e.contactId?.zone)).toEqual([1, 2]);
  });

  it('forgets after dedupeMs', async () => {
    const { handler, events, clock } = setup({ dedupeMs: 10_000 });
    await handler.handle(cid(5), FROM);
    await clock.advance(10_001);
    await handler.handle(cid(5), FROM);
    expect(events).toHaveLength(2);
  });

  it('a retransmission arriving while the first delivery is in progress waits for it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const { handler } = setup({}, async () => {
      calls++;
      await gate;
    });
    const first = handler.handle(cid(5), FROM);
    const second = handler.handle(cid(5), FROM);
    await Promise.resolve();
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.answer).toBe('ack');
    expect(b).toMatchObject({ answer: 'ack', duplicate: true });
    expect(calls).toBe(1);
  });
});

describe('onEvent failure', () => {
  it('is not ACKed, so the transmitter retries; the retry is delivered', async () => {
    let fail = true;
    const got: number[] = [];
    const { handler } = setup({}, (ev) => {
      if (fail) throw new Error('store full');
      got.push(ev.seq);
    });
    const first = await handler.handle(cid(5), FROM);
    expect(first.answer).toBe('none');
    expect(handler.stats.handlerErrors).toBe(1);
    fail = false;
    const retry = await handler.handle(cid(5), FROM);
    expect(retry.answer).toBe('ack');
    expect(got).toEqual([5]);
  });

  it('an async rejection counts the same', async () => {
    const { handler } = setup({}, async () => Promise.reject(new Error('disk')));
    expect((await handler.handle(cid(5), FROM)).answer).toBe('none');
  });
});

describe('line supervision', () => {
  it('reports a silent account lost once, and restored when it speaks', async () => {
    const { handler, clock, lost, restored, supervision } = setup();
    await clock.advance(59_999);
    expect(lost).toEqual([]);
    await clock.advance(1);
    expect(lost).toEqual(['777']);
    await clock.advance(300_000);
    expect(lost).toEqual(['777']);
    expect(supervision.isLost('777')).toBe(true);
    await handler.handle(buildFrame({ id: 'NULL', seq: 1, line: '0', account: '777', data: '', timestamp: new Date(clock.now()) }), FROM);
    expect(restored).toEqual(['777']);
    expect(supervision.lostAccounts()).toEqual([]);
  });

  it('any message re-arms the window', async () => {
    const { handler, clock, lost } = setup();
    for (let i = 0; i < 5; i++) {
      await clock.advance(50_000);
      await handler.handle(cid(i + 1, { account: '777' }), FROM);
    }
    expect(lost).toEqual([]);
    await clock.advance(60_000);
    expect(lost).toEqual(['777']);
  });

  it('a NAKed (badly clocked) but authentic frame still proves the line is up', async () => {
    const { handler, clock, lost } = setup();
    await clock.advance(50_000);
    expect((await handler.handle(cid(1, { account: '777', at: new Date(0) }), FROM)).answer).toBe('nak');
    await clock.advance(50_000);
    expect(lost).toEqual([]);
  });

  it('frames that fail CRC or name another account do not keep the line up', async () => {
    const { handler, clock, lost } = setup();
    await clock.advance(50_000);
    await handler.handle(handFrame('"NULL"0001L0#777[]', { crc: '0000' }), FROM);
    await handler.handle(cid(1, { account: '1234' }), FROM);
    await clock.advance(10_000);
    expect(lost).toEqual(['777']);
  });

  it('stop() cancels the timers', async () => {
    const { clock, lost, supervision } = setup();
    supervision.stop();
    await clock.advance(120_000);
    expect(lost).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('receiver config', () => {
  it.each<[string, unknown, RegExp]>([
    ['no accounts', { accounts: [] }, /accounts: at least one/],
    ['account not hex', { accounts: [{ account: 'XYZ' }] }, /accounts\.0\.account: account must be 3-16 hex/],
    ['key of 31 hex digits', { accounts: [{ account: '123', key: 'a'.repeat(31) }] }, /accounts\.0\.key/],
    ['duplicate accounts (case-insensitive)', { accounts: [{ account: 'abc' }, { account: 'ABC' }] }, /accounts\.1\.account: duplicate account ABC/],
    ['negative window', { accounts: [{ account: '123' }], windowMs: { past: -1, future: 0 } }, /windowMs\.past/],
    ['unknown option', { accounts: [{ account: '123' }], colour: 'red' }, /colour|unrecognized/i],
  ])('rejects %s with a message naming the field', (_name, input, message) => {
    let err: unknown;
    try {
      parseDc09ReceiverConfig(input, 'station.yaml dc09');
    } catch (e) {
      err = e;
    }
    expect(isShouwangError(err, ErrorCodes.CONFIG_INVALID), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/^station\.yaml dc09: /);
    expect((err as Error).message).toMatch(message);
  });

  it('fills the defaults from the issue: 127.0.0.1, ephemeral ports, -40 s / +20 s', () => {
    expect(parseDc09ReceiverConfig({ accounts: [{ account: '123' }] })).toMatchObject({
      host: '127.0.0.1',
      tcpPort: 0,
      udpPort: 0,
      windowMs: { past: 40_000, future: 20_000 },
    });
  });

  it('also delivers SIA-DCS built by our encoder', async () => {
    const { handler, events } = setup();
    const data = siaDcsData({ account: '1234', events: [{ code: 'PA', address: '501', area: 1 }] });
    await handler.handle(buildFrame({ id: 'SIA-DCS', seq: 3, line: '0', account: '1234', data, timestamp: null }), FROM);
    expect(events[0]?.sia).toEqual({ account: '1234', events: [{ code: 'PA', address: '501', area: 1 }] });
  });
});
