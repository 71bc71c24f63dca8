/**
 * Pure parts of the DC-09 forwarder: what goes into the frame for an outbound alarm, how an
 * answer from the receiver is read against the frame in flight, and the path config schema.
 * The socket side is tested against real receivers in test/integration/forwarder-dc09*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Alarm } from '../../gateway/src/core/types.js';
import {
  ackFrame,
  buildFrame,
  duhFrame,
  nakFrame,
  nullFrame,
  parseContactIdData,
  parseFrame,
  parseSiaDcsData,
} from '../../gateway/src/alarms/dc09/index.js';
import {
  alarmFrameContent,
  asciiLocationText,
  classifyAnswer,
  dc09PathSchema,
  dc09SafeUrl,
  nextSeq,
} from '../../gateway/src/alarms/forwarders/dc09.js';
import type { OutboundMessage } from '../../gateway/src/alarms/forwarders/types.js';
import { ShouwangError } from '../../gateway/src/errors.js';
import { KEY128, KEY256 } from './dc09-hand-frames.js';

function message(over: Partial<OutboundMessage> = {}, alarm: Partial<Alarm> = {}): OutboundMessage {
  return {
    outboxId: 1,
    route: 'police',
    account: '1234',
    seq: 42,
    zone: 15,
    group: 1,
    attempt: 1,
    queuedAt: 0,
    alarm: {
      id: '01JALARM',
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
      raisedAt: 0,
      updatedAt: 0,
      fields: {},
      ...alarm,
    },
    ...over,
  };
}

describe('alarmFrameContent: ADM-CID', () => {
  it('writes #acct|1EEE GG ZZZ for a new alarm and qualifier 3 for a restore', () => {
    const a = alarmFrameContent(message(), 'adm-cid');
    expect(a).toMatchObject({ id: 'ADM-CID', data: '#1234|1120 01 015', extended: [], dropped: [] });
    const r = alarmFrameContent(message({ zone: 7, group: 3 }, { kind: 'restore', code: { cid: 137, sia: 'TR' } }), 'adm-cid');
    expect(r.data).toBe('#1234|3137 03 007');
    expect(parseContactIdData(r.data)).toEqual({ ok: true, value: { account: '1234', qualifier: 3, event: 137, group: 3, zone: 7 } });
  });

  it('falls back to 140 (general alarm) when the alarm has no usable Contact ID code', () => {
    expect(alarmFrameContent(message({}, { code: { sia: 'PA' } }), 'adm-cid').data).toBe('#1234|1140 01 015');
    const bad = alarmFrameContent(message({}, { code: { cid: 1200 } }), 'adm-cid');
    expect(bad.data).toBe('#1234|1140 01 015');
    expect(bad.dropped.join()).toMatch(/1200/);
  });

  it('refuses a zone or group Contact ID cannot carry (a bug upstream, not path trouble)', () => {
    expect(() => alarmFrameContent(message({ zone: 1000 }), 'adm-cid')).toThrow(ShouwangError);
    expect(() => alarmFrameContent(message({ group: 100 }), 'adm-cid')).toThrow(/group/);
    expect(() => alarmFrameContent(message({ account: 'XYZ' }), 'adm-cid')).toThrow(/account/);
  });
});

describe('alarmFrameContent: SIA-DCS', () => {
  it('writes #acct|Nri<group>/<code><zone> with a short ASCII location text', () => {
    const c = alarmFrameContent(message({}, { location: { building: '3', room: '201' } }), 'sia-dcs');
    expect(c.id).toBe('SIA-DCS');
    expect(c.data).toBe('#1234|Nri1/PA15|AB3 R201');
    expect(parseSiaDcsData(c.data)).toEqual({
      ok: true,
      value: { account: '1234', events: [{ code: 'PA', address: '15', area: 1 }], text: 'B3 R201' },
    });
  });

  it('uses the restore code from the alarm, and UA / UR when there is none', () => {
    expect(alarmFrameContent(message({}, { kind: 'restore', code: { cid: 137, sia: 'TR' } }), 'sia-dcs').data).toBe('#1234|Nri1/TR15');
    expect(alarmFrameContent(message({}, { code: { cid: 130 } }), 'sia-dcs').data).toBe('#1234|Nri1/UA15');
    expect(alarmFrameContent(message({}, { kind: 'restore', code: {} }), 'sia-dcs').data).toBe('#1234|Nri1/UR15');
    const bad = alarmFrameContent(message({}, { code: { sia: 'pa1' } }), 'sia-dcs');
    expect(bad.data).toBe('#1234|Nri1/UA15');
    expect(bad.dropped.join()).toMatch(/pa1/);
  });

  it('leaves out location text that is not plain short ASCII', () => {
    expect(asciiLocationText({ building: '3栋', room: '201' })).toBe('R201');
    expect(asciiLocationText({ building: '3栋', room: '二〇一' })).toBeUndefined();
    expect(asciiLocationText({ building: 'A|B', room: '1]' })).toBeUndefined();
    expect(asciiLocationText({ building: 'B'.repeat(40) })).toBeUndefined();
    expect(asciiLocationText({ lat: 1, lon: 2 })).toBeUndefined();
    expect(asciiLocationText(undefined)).toBeUndefined();
    expect(alarmFrameContent(message({}, { location: { room: '三' } }), 'sia-dcs').data).toBe('#1234|Nri1/PA15');
  });
});

describe('alarmFrameContent: extended data', () => {
  it('carries the location as [X][Y] and the camera URL as [V]', () => {
    const c = alarmFrameContent(
      message({ cameraUrl: 'http://cam.local/snap/1.jpg' }, { location: { lat: 22.54, lon: 113.93 } }),
      'adm-cid',
    );
    expect(c.extended).toEqual([
      { tag: 'X', value: 'E113.93' },
      { tag: 'Y', value: 'N22.54' },
      { tag: 'V', value: 'http://cam.local/snap/1.jpg' },
    ]);
    const frame = buildFrame({ id: c.id, seq: 42, line: '0', account: '1234', data: c.data, extended: c.extended, timestamp: null });
    const parsed = parseFrame(frame);
    expect(parsed.ok && parsed.frame.location).toEqual({ lat: 22.54, lon: 113.93 });
    expect(parsed.ok && parsed.frame.verificationUrl).toBe('http://cam.local/snap/1.jpg');
  });

  it('percent-encodes what DC-09 cannot carry in a URL', () => {
    expect(dc09SafeUrl('http://cam/a[1] b/摄像头.jpg')).toBe('http://cam/a%5B1%5D%20b/%E6%91%84%E5%83%8F%E5%A4%B4.jpg');
    expect(dc09SafeUrl('http://cam/ok?x=1&y=%41')).toBe('http://cam/ok?x=1&y=%41');
    const c = alarmFrameContent(message({ cameraUrl: 'http://cam/[x]' }), 'sia-dcs');
    expect(c.extended).toEqual([{ tag: 'V', value: 'http://cam/%5Bx%5D' }]);
  });

  it('drops (and reports) a location or URL it cannot write, but still builds the alarm', () => {
    const c = alarmFrameContent(message({ cameraUrl: `http://cam/${'x'.repeat(300)}` }, { location: { lat: 95, lon: 10 } }), 'sia-dcs');
    expect(c.extended).toEqual([]);
    expect(c.dropped).toHaveLength(2);
    expect(c.data).toBe('#1234|Nri1/PA15');
  });
});

describe('classifyAnswer', () => {
  const inFlight = { seq: 42, account: '12AB' };
  const to = { encrypted: false, seq: 42, receiver: undefined, line: '0', account: '12AB' };

  it('an ACK with our sequence and account is the answer (account case-insensitive)', () => {
    expect(classifyAnswer(ackFrame(to), inFlight)).toEqual({ kind: 'ack' });
    expect(classifyAnswer(ackFrame({ ...to, account: '12ab' }), inFlight)).toEqual({ kind: 'ack' });
  });

  it('an ACK for another sequence or account is ignored', () => {
    expect(classifyAnswer(ackFrame({ ...to, seq: 41 }), inFlight)).toMatchObject({ kind: 'ignore', why: expect.stringMatching(/41/) });
    expect(classifyAnswer(ackFrame({ ...to, account: '9999' }), inFlight)).toMatchObject({ kind: 'ignore', why: expect.stringMatching(/9999/) });
  });

  it('reads an encrypted ACK with the path key, and still accepts it by its clear header with a wrong key', () => {
    const enc = ackFrame({ ...to, encrypted: true }, { key: KEY128 });
    expect(classifyAnswer(enc, inFlight, KEY128)).toEqual({ kind: 'ack' });
    expect(classifyAnswer(enc, inFlight, KEY256)).toEqual({ kind: 'ack' });
  });

  it('a NAK carries the receiver time (whatever its sequence)', () => {
    const at = new Date(Date.UTC(2025, 2, 2, 8, 15, 0));
    expect(classifyAnswer(nakFrame(at), inFlight)).toEqual({ kind: 'nak', receiverTime: at });
  });

  it('a DUH for our sequence, or for an unreadable header (0000), rejects; another DUH is ignored', () => {
    expect(classifyAnswer(duhFrame(to), inFlight)).toEqual({ kind: 'duh' });
    expect(classifyAnswer(duhFrame({}), inFlight)).toEqual({ kind: 'duh' });
    expect(classifyAnswer(duhFrame({ ...to, seq: 7 }), inFlight).kind).toBe('ignore');
  });

  it('garbage, a frame with a broken CRC and a non-answer are ignored', () => {
    expect(classifyAnswer(Buffer.from('\nhello\r'), inFlight).kind).toBe('ignore');
    const ack = Buffer.from(ackFrame(to));
    ack[1] = ack[1] === 0x30 ? 0x31 : 0x30;
    expect(classifyAnswer(ack, inFlight).kind).toBe('ignore');
    expect(classifyAnswer(nullFrame({ seq: 42, line: '0', account: '12AB' }), inFlight).kind).toBe('ignore');
  });
});

describe('nextSeq', () => {
  it('runs 1..9999 and wraps to 1, never 0', () => {
    expect(nextSeq(0)).toBe(1);
    expect(nextSeq(1)).toBe(2);
    expect(nextSeq(9998)).toBe(9999);
    expect(nextSeq(9999)).toBe(1);
  });
});

describe('dc09PathSchema', () => {
  const base = { id: 'police-dc09', type: 'dc09', transport: 'tcp', host: '127.0.0.1', port: 5000, account: '1234' } as const;

  it('fills the defaults', () => {
    expect(dc09PathSchema.parse(base)).toEqual({
      ...base,
      line: '0',
      format: 'sia-dcs',
      ackTimeoutMs: 2000,
      heartbeatMs: 60_000,
      failAfter: 2,
    });
  });

  it('rejects unknown fields, bad hex and keys of the wrong length, naming the field', () => {
    const issues = (input: unknown) => {
      const r = dc09PathSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ ...base, extra: 1 }).join()).toMatch(/extra/);
    expect(issues({ ...base, key: 'ABCD' })).toEqual([expect.stringMatching(/^key: .*32, 48 or 64/)]);
    expect(issues({ ...base, receiver: 'XYZ' })).toEqual([expect.stringMatching(/^receiver: /)]);
    expect(issues({ ...base, line: '' })).toEqual([expect.stringMatching(/^line: /)]);
    expect(issues({ ...base, transport: 'sctp' })).toEqual([expect.stringMatching(/^transport: /)]);
    expect(issues({ ...base, key: '0'.repeat(64) })).toEqual([]);
  });

  it('needs an account for heartbeats, unless heartbeats are off', () => {
    const { account: _drop, ...noAccount } = base;
    expect(dc09PathSchema.safeParse(noAccount).error?.issues[0]?.path).toEqual(['account']);
    expect(dc09PathSchema.safeParse({ ...noAccount, heartbeatMs: 0 }).success).toBe(true);
  });
});
