import { describe, expect, it } from 'vitest';
import {
  contactIdData,
  locationFields,
  locationFromExtended,
  parseContactIdData,
  parseSiaDcsData,
  siaDcsData,
  verificationField,
  verificationUrlFromExtended,
  type ContactIdQualifier,
} from '../../gateway/src/alarms/dc09/index.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';

function throwsPayload(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isShouwangError(err, ErrorCodes.PAYLOAD_INVALID), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('ADM-CID data #acct|QEEE GG ZZZ', () => {
  it('encodes a new panic event with zero padding', () => {
    expect(contactIdData({ account: '1234', qualifier: 1, event: 120, group: 1, zone: 5 })).toBe('#1234|1120 01 005');
  });

  it('encodes restore (3) and status (6)', () => {
    expect(contactIdData({ account: 'ABC', qualifier: 3, event: 137, group: 12, zone: 999 })).toBe('#ABC|3137 12 999');
    expect(contactIdData({ account: 'ABC', qualifier: 6, event: 9, group: 0, zone: 0 })).toBe('#ABC|6009 00 000');
  });

  it('parses a hand-written string', () => {
    expect(parseContactIdData('#1234|1401 02 017')).toEqual({
      ok: true,
      value: { account: '1234', qualifier: 1, event: 401, group: 2, zone: 17 },
    });
  });

  it.each(['#1234|2120 01 005', '#1234|1120 1 005', '#1234|1120 01 05', '#1234 1120 01 005', '1234|1120 01 005', '#1234|1120 01 005 ', '#12|1120 01 005'])(
    'rejects %j',
    (data) => {
      expect(parseContactIdData(data).ok).toBe(false);
    },
  );

  it('rejects out-of-range fields when encoding', () => {
    throwsPayload(() => contactIdData({ account: '1234', qualifier: 2 as ContactIdQualifier, event: 120, group: 1, zone: 1 }), /qualifier/);
    throwsPayload(() => contactIdData({ account: '1234', qualifier: 1, event: 1000, group: 1, zone: 1 }), /event/);
    throwsPayload(() => contactIdData({ account: '1234', qualifier: 1, event: 120, group: 100, zone: 1 }), /group/);
    throwsPayload(() => contactIdData({ account: '1234', qualifier: 1, event: 120, group: 1, zone: -1 }), /zone/);
    throwsPayload(() => contactIdData({ account: 'GGGG', qualifier: 1, event: 120, group: 1, zone: 1 }), /account/);
  });
});

describe('SIA-DCS data #acct|N…', () => {
  it('encodes the issue example #acct|Nri1/PA501', () => {
    expect(siaDcsData({ account: '1234', events: [{ code: 'PA', address: '501', area: 1 }] })).toBe('#1234|Nri1/PA501');
  });

  it('writes a modifier only when it changes, and the |A text block', () => {
    const data = siaDcsData({
      account: '1234',
      events: [
        { code: 'BA', address: '12', area: 1, user: 3, time: '10:30' },
        { code: 'BA', address: '13', area: 1, user: 3, time: '10:30' },
        { code: 'FA', address: '1', area: 2 },
      ],
      text: 'kitchen',
    });
    expect(data).toBe('#1234|Nti10:30/ri1/id3/BA12/BA13/ri2/FA1|Akitchen');
  });

  it('parses the public vector data #1234|NRR|Atest', () => {
    expect(parseSiaDcsData('#1234|NRR|Atest')).toEqual({
      ok: true,
      value: { account: '1234', events: [{ code: 'RR', address: '' }], text: 'test' },
    });
  });

  it('parses modifiers that carry over to later events', () => {
    const r = parseSiaDcsData('#1A2B3C|Nti10:30/ri2/id7/BA012/BR012');
    expect(r).toEqual({
      ok: true,
      value: {
        account: '1A2B3C',
        events: [
          { code: 'BA', address: '012', area: 2, user: 7, time: '10:30' },
          { code: 'BR', address: '012', area: 2, user: 7, time: '10:30' },
        ],
      },
    });
  });

  it('round-trips', () => {
    const msg = { account: 'FFFF', events: [{ code: 'PA', address: '1', area: 3 }, { code: 'YK', address: '' , area: 3 }], text: 'a b/c' };
    const r = parseSiaDcsData(siaDcsData(msg));
    expect(r).toEqual({ ok: true, value: msg });
  });

  it.each(['#1234|RR', '#1234|N', '#1234|Nri1', '#1234|Npa501', '#1234|NPA50a', '#1234|Nti25:00/PA1', '1234|NPA1', '#1234|NPA1|Xfoo', '#1234|NPA1|Aa|Ab'])(
    'rejects %j',
    (data) => {
      expect(parseSiaDcsData(data).ok).toBe(false);
    },
  );

  it('rejects bad fields when encoding', () => {
    throwsPayload(() => siaDcsData({ account: '1234', events: [] }), /at least one/);
    throwsPayload(() => siaDcsData({ account: '1234', events: [{ code: 'pa' }] }), /code/);
    throwsPayload(() => siaDcsData({ account: '1234', events: [{ code: 'PA', address: '1a' }] }), /address/);
    throwsPayload(() => siaDcsData({ account: '1234', events: [{ code: 'PA', time: '9:00' }] }), /time/);
    throwsPayload(() => siaDcsData({ account: '1234', events: [{ code: 'PA' }], text: 'a|b' }), /text/);
    throwsPayload(() => siaDcsData({ account: '1234', events: [{ code: 'PA', area: -1 }] }), /area/);
  });
});

describe('extended data: location and verification', () => {
  it('writes hemisphere letter + decimal degrees, six decimals at most', () => {
    expect(locationFields({ lat: 22.54, lon: 113.93 })).toEqual([
      { tag: 'X', value: 'E113.93' },
      { tag: 'Y', value: 'N22.54' },
    ]);
    expect(locationFields({ lat: -33.86882, lon: -151.209295 })).toEqual([
      { tag: 'X', value: 'W151.209295' },
      { tag: 'Y', value: 'S33.86882' },
    ]);
    expect(locationFields({ lat: 0, lon: 0.00000001 })).toEqual([
      { tag: 'X', value: 'E0' },
      { tag: 'Y', value: 'N0' },
    ]);
  });

  it('rejects impossible coordinates', () => {
    throwsPayload(() => locationFields({ lat: 91, lon: 0 }), /latitude/);
    throwsPayload(() => locationFields({ lat: 0, lon: -180.5 }), /longitude/);
    throwsPayload(() => locationFields({ lat: Number.NaN, lon: 0 }), /latitude/);
  });

  it('reads X/Y back, with letters or signed decimals', () => {
    expect(locationFromExtended(locationFields({ lat: -12.5, lon: 45.25 }))).toEqual({ lat: -12.5, lon: 45.25 });
    expect(locationFromExtended([{ tag: 'X', value: '-0.5' }, { tag: 'Y', value: '51.5' }])).toEqual({ lat: 51.5, lon: -0.5 });
    expect(locationFromExtended([{ tag: 'X', value: 'N1' }, { tag: 'Y', value: 'N1' }])).toBeUndefined();
    expect(locationFromExtended([{ tag: 'X', value: 'E190' }, { tag: 'Y', value: 'N1' }])).toBeUndefined();
    expect(locationFromExtended([{ tag: 'X', value: 'E-1' }, { tag: 'Y', value: 'N1' }])).toBeUndefined();
    expect(locationFromExtended([{ tag: 'X', value: 'E1' }])).toBeUndefined();
  });

  it('carries a camera URL in [V…]', () => {
    const f = verificationField('rtsp://10.0.0.5/cam1?t=1');
    expect(f).toEqual({ tag: 'V', value: 'rtsp://10.0.0.5/cam1?t=1' });
    expect(verificationUrlFromExtended([f])).toBe('rtsp://10.0.0.5/cam1?t=1');
    throwsPayload(() => verificationField('http://x/[a]'), /printable/);
    throwsPayload(() => verificationField(`http://x/${'a'.repeat(300)}`), /at most 256/);
  });
});
