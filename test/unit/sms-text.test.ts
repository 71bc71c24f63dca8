/**
 * The pure parts of the SMS path: the message composer (GSM-safe ASCII, at most 160
 * characters, Chinese dropped safely), the path config schema, and the parsers of the modem's
 * answers (+CREG, +CSQ, +CMS ERROR in words).
 */
import { describe, expect, it } from 'vitest';
import type { Alarm } from '../../gateway/src/core/types.js';
import { composeSmsText, gsmSafeText, SMS_MAX_CHARS } from '../../gateway/src/alarms/forwarders/sms-text.js';
import { describeModemFailure, parseCreg, parseCsq, smsPathSchema } from '../../gateway/src/alarms/forwarders/sms.js';

/** Printable characters on which ASCII and GSM 03.38 agree (written here, not imported, so the test does not trust the code). */
const SAFE = /^[ !"#%&'()*+,\-./0-9:;<=>?A-Za-z]*$/;

function alarm(overrides: Partial<Alarm> = {}): Alarm {
  return {
    id: '01JD3QX5T7K2M9PQRS4VWXYZ8A',
    site: 'v',
    device: 'pole-03',
    profile: 'generic-alarm-pole',
    rule: 'panic',
    name: { zh: '一键报警', en: 'Panic button' },
    code: { cid: 120, sia: 'PA' },
    severity: 'emergency',
    kind: 'alarm',
    latch: true,
    silent: false,
    state: 'queued',
    raisedAt: Date.UTC(2026, 10, 22, 14, 3, 5, 678),
    updatedAt: Date.UTC(2026, 10, 22, 14, 3, 5, 678),
    location: { building: '3', room: '201', lat: 22.5401, lon: 113.9312 },
    fields: {},
    ...overrides,
  };
}

describe('composeSmsText', () => {
  it('writes the documented one-line format', () => {
    expect(composeSmsText({ account: '1234', seq: 42, alarm: alarm() })).toBe(
      'SHOUWANG ALARM PA panic acct 1234 seq 0042 dev pole-03 B3 R201 22.5401N 113.9312E 2026-11-22 14:03:05Z id 01JD3QX5T7K2M9PQRS4VWXYZ8A',
    );
  });

  it('writes a restore as RESTORE with the id it restores', () => {
    const text = composeSmsText({
      account: '1234',
      seq: 7,
      alarm: alarm({ kind: 'restore', rule: 'tamper', code: { cid: 137, sia: 'TR' }, id: '01JD3R0000000000000000000B', restores: '01JD3QX5T7K2M9PQRS4VWXYZ8A', location: {} }),
    });
    expect(text).toBe('SHOUWANG RESTORE TR tamper acct 1234 seq 0007 dev pole-03 2026-11-22 14:03:05Z id 01JD3R0000000000000000000B re 01JD3QX5T7K2M9PQRS4VWXYZ8A');
  });

  it('uses the Contact ID code when there is no SIA code, and the floor when given', () => {
    const text = composeSmsText({ account: 'ABC', seq: 9999, alarm: alarm({ code: { cid: 121 }, location: { building: 'A', floor: '1', room: 'entrance' } }) });
    expect(text.startsWith('SHOUWANG ALARM CID121 panic acct ABC seq 9999 dev pole-03 BA F1 Rentrance ')).toBe(true);
  });

  it('writes southern and western coordinates with S and W', () => {
    const text = composeSmsText({ account: '1', seq: 1, alarm: alarm({ location: { lat: -33.86882, lon: -70.12345 } }) });
    expect(text).toContain(' 33.8688S 70.1235W ');
  });

  it('drops Chinese location text safely and keeps what survives as ASCII', () => {
    const text = composeSmsText({
      account: '1234',
      seq: 1,
      alarm: alarm({ device: '门口-01', rule: 'door_forced', location: { building: '３栋', floor: '二楼', room: '201室', address: '深圳市南山区西丽街道' } }),
    });
    expect(text).toMatch(SAFE);
    expect(text).toContain(' dev 01 ');
    expect(text).toContain(' door-forced ');
    expect(text).toContain(' B3 R201 ');
    // Floor and address had nothing ASCII in them: no empty `F`, no stray spaces.
    expect(text).not.toMatch(/ F /);
    expect(text).not.toContain('  ');
  });

  it('keeps an ASCII address when there are no coordinates', () => {
    const text = composeSmsText({ account: '1', seq: 1, alarm: alarm({ location: { address: 'Lane 5, Xili Village' } }) });
    expect(text).toContain(' Lane 5, Xili Village ');
  });

  it('stays within 160 characters by dropping the least important parts first', () => {
    const long = 'x'.repeat(80);
    const text = composeSmsText({
      account: '0123456789ABCDEF',
      seq: 12,
      alarm: alarm({
        kind: 'restore',
        device: `pole-${long}`,
        rule: `rule-${long}`,
        restores: '01JD3QX5T7K2M9PQRS4VWXYZ8B',
        location: { building: long, floor: long, room: long, lat: -89.99999, lon: -179.99999 },
      }),
    });
    expect(text.length).toBeLessThanOrEqual(SMS_MAX_CHARS);
    expect(text).toMatch(SAFE);
    // The parts a receiver identifies the alarm by survive.
    expect(text.startsWith('SHOUWANG RESTORE PA ')).toBe(true);
    expect(text).toContain(' acct 0123456789ABCDEF seq 0012 dev pole-xxx');
    expect(text).toContain(' id 01JD3QX5T7K2M9PQRS4VWXYZ8A');
    // The restore reference is the first to go.
    expect(text).not.toContain(' re ');
  });

  it('is ASCII, at most 160 characters and keeps the id for any junk in the fields', () => {
    // A small deterministic generator: no Math.random, so a failure reproduces.
    let state = 0x2545f491;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
    const pool = ['栋', '室', 'é', 'Ａ', '３', '_', '@', '$', '|', '~', '\u0000', '\u001a', '\n', ' ', 'a', 'Z', '9', '-', '😀', '\u200b', 'ß', '{', '\\'];
    const junk = (n: number) => Array.from({ length: Math.floor(next() * n) }, () => pool[Math.floor(next() * pool.length)]).join('');
    for (let i = 0; i < 500; i++) {
      const text = composeSmsText({
        account: junk(20),
        seq: 1 + Math.floor(next() * 9999),
        alarm: alarm({
          device: junk(60),
          rule: junk(40),
          code: next() < 0.5 ? { sia: junk(4) } : { cid: Math.floor(next() * 999) },
          kind: next() < 0.5 ? 'alarm' : 'restore',
          restores: next() < 0.5 ? '01JD3QX5T7K2M9PQRS4VWXYZ8B' : undefined,
          location: { building: junk(30), floor: junk(10), room: junk(30), address: junk(80), ...(next() < 0.5 ? { lat: 22.5, lon: 113.9 } : {}) },
        }),
      });
      expect(text.length).toBeLessThanOrEqual(SMS_MAX_CHARS);
      expect(text, JSON.stringify(text)).toMatch(SAFE);
      expect(text).toContain('id 01JD3QX5T7K2M9PQRS4VWXYZ8A');
    }
  });
});

describe('gsmSafeText', () => {
  it('folds full-width forms and accents, replaces ASCII the GSM alphabet lacks, drops the rest', () => {
    expect(gsmSafeText('Ａ栋３单元')).toBe('A 3');
    expect(gsmSafeText('Café Zoë')).toBe('Cafe Zoe');
    expect(gsmSafeText('a_b|c [d] {e} ~f `g` h\\i')).toBe("a-b/c (d) (e) -f 'g' h/i");
    expect(gsmSafeText('user@example.com $5 ^')).toBe('userexample.com 5');
    expect(gsmSafeText('line\u001a one\r\ntwo\ttab 😀')).toBe('line one two tab');
  });
});

describe('smsPathSchema', () => {
  it('fills the defaults', () => {
    expect(smsPathSchema.parse({ id: 'sms-1', type: 'sms', port: '/dev/ttyUSB2', numbers: ['+8613800138000', '13900139000'] })).toEqual({
      id: 'sms-1',
      type: 'sms',
      port: '/dev/ttyUSB2',
      baudRate: 115200,
      numbers: ['+8613800138000', '13900139000'],
      timeoutMs: 30000,
      heartbeatMs: 60000,
    });
  });

  it.each([
    ['no number', { numbers: [] }, 'numbers'],
    ['a number with dashes', { numbers: ['138-0013-8000'] }, 'numbers.0'],
    ['a landline without +', { numbers: ['075512345678'] }, 'numbers.0'],
    ['a number twice', { numbers: ['13800138000', '13800138000'] }, 'numbers'],
    ['an unknown key', { baud: 9600 }, ''],
    ['a tiny heartbeat', { heartbeatMs: 50 }, 'heartbeatMs'],
    ['a wrong type', { type: 'mqtt' }, 'type'],
  ])('rejects %s', (_what, patch, path) => {
    const r = smsPathSchema.safeParse({ id: 'sms-1', type: 'sms', port: '/dev/ttyUSB2', numbers: ['13800138000'], ...patch });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('accepts heartbeatMs 0 (off)', () => {
    expect(smsPathSchema.parse({ id: 's', type: 'sms', port: '/dev/ttyS0', numbers: ['+12025550123'], heartbeatMs: 0 }).heartbeatMs).toBe(0);
  });
});

describe('modem answers', () => {
  it('reads registration from +CREG', () => {
    expect(parseCreg(['+CREG: 0,1'])).toMatchObject({ stat: 1, registered: true });
    expect(parseCreg(['+CREG: 2,5,"24A1","0F3C",7'])).toMatchObject({ stat: 5, registered: true });
    expect(parseCreg(['+CREG: 0,0'])).toMatchObject({ stat: 0, registered: false, words: 'not registered, not searching' });
    expect(parseCreg(['+CREG: 0,3'])).toMatchObject({ registered: false, words: 'registration denied' });
    expect(parseCreg(['+CSQ: 20,99'])).toBeUndefined();
  });

  it('reads the signal from +CSQ, 99 as unknown', () => {
    expect(parseCsq(['+CSQ: 20,99'])).toEqual({ rssi: 20, dbm: -73 });
    expect(parseCsq(['+CSQ: 99,99'])).toEqual({ rssi: 99 });
    expect(parseCsq(['OK'])).toBeUndefined();
  });

  it('puts +CMS / +CME errors in words', () => {
    expect(describeModemFailure({ command: 'AT+CMGS="1"', ok: false, final: '+CMS ERROR: 331', lines: [], cms: 331 })).toBe('+CMS ERROR: 331 (no network service)');
    expect(describeModemFailure({ command: 'AT+CMGS="1"', ok: false, final: '+CMS ERROR: 330', lines: [], cms: 330 })).toContain('SMS centre address unknown');
    expect(describeModemFailure({ command: 'AT+CMGF=1', ok: false, final: '+CME ERROR: 10', lines: [], cme: 10 })).toBe('+CME ERROR: 10 (SIM not inserted)');
    expect(describeModemFailure({ command: 'AT+CMGS="1"', ok: false, final: '+CMS ERROR: 999', lines: [], cms: 999 })).toBe('+CMS ERROR: 999');
    expect(describeModemFailure({ command: 'AT', ok: false, final: 'ERROR', lines: [] })).toBe('ERROR');
  });
});
