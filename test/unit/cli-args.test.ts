import { describe, expect, it } from 'vitest';
import { parseDurationOption, parseIdRange, parseInteger, parseTable } from '../../gateway/src/cli/args.js';
import { busConfigFromOptions, describeBus } from '../../gateway/src/cli/bus-options.js';
import { UsageError } from '../../gateway/src/cli/errors.js';

describe('parseIdRange', () => {
  it('expands ranges and single ids, sorted and unique', () => {
    expect(parseIdRange('1-10,15')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15]);
    expect(parseIdRange('15, 3-4, 4')).toEqual([3, 4, 15]);
    expect(parseIdRange('7')).toEqual([7]);
    expect(parseIdRange('1-247')).toHaveLength(247);
  });

  it('rejects ids outside 1-247, backwards ranges and junk with the option name', () => {
    expect(() => parseIdRange('0-5')).toThrow(/--ids: expected 1-247, got 0/);
    expect(() => parseIdRange('1-300')).toThrow(/--ids: expected 1-247, got 300/);
    expect(() => parseIdRange('10-2')).toThrow(/range "10-2" goes backwards/);
    expect(() => parseIdRange('1,,2')).toThrow(/empty item/);
    expect(() => parseIdRange('a-b')).toThrow(UsageError);
    expect(() => parseIdRange('1-10;15')).toThrow(/"1-10;15" is not an id/);
  });
});

describe('option value parsers', () => {
  it('parseInteger accepts decimal and hex, rejects fractions and out-of-range values', () => {
    expect(parseInteger('0x10', '--address', 0, 65535)).toBe(16);
    expect(parseInteger(' 42 ', '--unit', 1, 247)).toBe(42);
    expect(() => parseInteger('1.5', '--unit', 1, 247)).toThrow('--unit: expected an integer, got "1.5"');
    expect(() => parseInteger('248', '--unit', 1, 247)).toThrow('--unit: expected 1-247, got 248');
  });

  it('parseDurationOption reads 200ms, 1.5s and bare milliseconds', () => {
    expect(parseDurationOption('200ms', '--timeout')).toBe(200);
    expect(parseDurationOption('1.5s', '--timeout')).toBe(1500);
    expect(parseDurationOption('750', '--timeout')).toBe(750);
    expect(() => parseDurationOption('soon', '--timeout')).toThrow(/--timeout: expected a duration like 200ms/);
    expect(() => parseDurationOption('5m', '--timeout')).toThrow(/--timeout: expected 1-60000 ms, got 300000 ms/);
  });

  it('parseTable accepts names and the 4x/3x/0x/1x shorthands', () => {
    expect(parseTable('holding')).toBe('holding');
    expect(parseTable('4x')).toBe('holding');
    expect(parseTable('IR')).toBe('input');
    expect(parseTable('coils')).toBe('coil');
    expect(parseTable('1x')).toBe('discrete');
    expect(() => parseTable('registers')).toThrow(/--table: expected one of coil, discrete, input, holding/);
  });
});

describe('busConfigFromOptions', () => {
  it('builds a validated RTU bus with defaults filled by the config schema', () => {
    const bus = busConfigFromOptions({ port: '/dev/ttyUSB0', baud: '19200', parity: 'even', timeout: '200ms' });
    expect(bus).toMatchObject({ type: 'rtu', path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even', stopBits: 1, dataBits: 8, timeout: 200 });
    expect(describeBus(bus)).toBe('/dev/ttyUSB0 19200 baud 8E1 (Modbus RTU)');
  });

  it('builds TCP and RTU-over-TCP buses', () => {
    expect(busConfigFromOptions({ host: '10.0.0.5', tcpPort: '5020' })).toMatchObject({ type: 'tcp', host: '10.0.0.5', port: 5020 });
    const dtu = busConfigFromOptions({ host: '10.0.0.6', tcpPort: '4001', rtuOverTcp: true, baud: '9600' });
    expect(dtu).toMatchObject({ type: 'rtu-over-tcp', port: 4001, baudRate: 9600 });
    expect(describeBus(dtu)).toBe('10.0.0.6:4001 (Modbus RTU over TCP, line 9600 baud)');
  });

  it('names the option when the schema rejects a value', () => {
    expect(() => busConfigFromOptions({ port: '/dev/ttyUSB0', baud: '12345' })).toThrow('--baud: expected a standard baud rate (1200-115200)');
    expect(() => busConfigFromOptions({})).toThrow(/either --port .* or --host/);
    expect(() => busConfigFromOptions({ port: '/dev/x', host: 'h' })).toThrow(UsageError);
    expect(() => busConfigFromOptions({ port: '/dev/x', rtuOverTcp: true })).toThrow('--rtu-over-tcp goes with --host, not --port');
    expect(() => busConfigFromOptions({ port: '/dev/x', parity: 'mark' })).toThrow('--parity: expected one of none, even, odd, got "mark"');
  });
});
