import { describe, expect, it } from 'vitest';
import type { DeviceStatus } from '../../gateway/src/core/types.js';
import { DeviceHealth } from '../../gateway/src/polling/device-health.js';
import { classifyError } from '../../gateway/src/polling/outcome.js';
import { ErrorCodes, ShouwangError } from '../../gateway/src/errors.js';

const breaker = { failures: 3, backoff: 5000, maxBackoff: 60_000 };

describe('DeviceHealth: what went wrong, per device', () => {
  it('counts timeouts, CRC and frame errors apart; other failures only as failures', () => {
    const statuses: DeviceStatus[] = [];
    const h = new DeviceHealth('lock-1', breaker, (s) => statuses.push(s));
    h.recordSuccess(0, 12);
    const fail = (code: string) => h.recordFailure(1, classifyError(new ShouwangError(code as never, 'x')).reason);
    fail(ErrorCodes.TRANSPORT_TIMEOUT);
    fail(ErrorCodes.TRANSPORT_CRC);
    fail(ErrorCodes.TRANSPORT_CRC);
    h.recordSuccess(2, 10);
    fail(ErrorCodes.TRANSPORT_FRAME);
    fail(ErrorCodes.TRANSPORT_CLOSED);
    h.recordException(3, 9);
    const s = h.stats();
    expect(s).toMatchObject({ success: 2, failures: 6, exceptions: 1, timeouts: 1, crcErrors: 2, frameErrors: 1 });
    // Timeout, CRC, CRC: three in a row opened the breaker once; frame and closed were only two.
    expect(s.breakerTrips).toBe(1);
  });

  it('a dead slave: every failure a timeout, the breaker trips once and the device goes offline', () => {
    const statuses: DeviceStatus[] = [];
    const h = new DeviceHealth('lock-2', breaker, (s) => statuses.push(s));
    for (let i = 0; i < 3; i++) h.recordFailure(i, 'timeout');
    expect(h.stats()).toMatchObject({ failures: 3, timeouts: 3, crcErrors: 0, breakerTrips: 1, breaker: 'open' });
    expect(statuses.at(-1)).toMatchObject({ device: 'lock-2', availability: 'offline', reason: 'timeout' });
  });
});
