/** ACK / NAK / DUH / NULL frames compared with frames written by hand from the spec. */
import { describe, expect, it } from 'vitest';
import { ackFrame, duhFrame, nakFrame, nullFrame, parseFrame } from '../../gateway/src/alarms/dc09/index.js';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import { handFrame, PUBLIC_VECTOR } from './dc09-hand-frames.js';

describe('responses', () => {
  const vector = parseFrame(Buffer.from(PUBLIC_VECTOR, 'latin1'));
  if (!vector.ok) throw new Error('public vector must parse');

  it('ACK echoes sequence, receiver, line and account (CRC 61DB by an independent CRC)', () => {
    expect(ackFrame(vector.frame).toString('latin1')).toBe('\n61DB0016"ACK"0001RF3L77#1234[]\r');
  });

  it('NAK is "NAK"0000R0L0A0[] with the receiver time, and parses with its timestamp', () => {
    const now = new Date(Date.UTC(2025, 0, 7, 13, 5, 9));
    expect(nakFrame(now).toString('latin1')).toBe('\nA7B00025"NAK"0000R0L0A0[]_13:05:09,01-07-2025\r');
    const r = parseFrame(nakFrame(now));
    expect(r.ok && r.frame).toMatchObject({ id: 'NAK', seq: 0, account: undefined });
    expect(r.ok && r.frame.timestamp?.getTime()).toBe(now.getTime());
  });

  it('DUH echoes the header it could read', () => {
    expect(duhFrame({ ...vector.frame, seq: 7 }).toString('latin1')).toBe('\n83860016"DUH"0007RF3L77#1234[]\r');
  });

  it('DUH for an unreadable header is seq 0000, line 0', () => {
    expect(duhFrame().toString('latin1')).toBe(handFrame('"DUH"0000L0[]').toString('latin1'));
  });

  it('DUH to an encrypted message is sent in the clear', () => {
    expect(duhFrame({ encrypted: true, seq: 5, line: '0', account: '1234' }).toString('latin1')).toBe(
      handFrame('"DUH"0005L0#1234[]').toString('latin1'),
    );
  });

  it('NULL is an empty data block with a timestamp', () => {
    const when = new Date(Date.UTC(2024, 11, 31, 23, 59, 59));
    expect(nullFrame({ seq: 3, receiver: '1', line: '1', account: '789', timestamp: when }).toString('latin1')).toBe(
      '\nBA900028"NULL"0003R1L1#789[]_23:59:59,12-31-2024\r',
    );
  });

  it('an ACK to an encrypted message without the key is a programming error', () => {
    let err: unknown;
    try {
      ackFrame({ ...vector.frame, encrypted: true });
    } catch (e) {
      err = e;
    }
    expect(isShouwangError(err, ErrorCodes.PAYLOAD_INVALID)).toBe(true);
  });
});
