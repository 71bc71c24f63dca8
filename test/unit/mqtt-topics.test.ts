import { describe, expect, it } from 'vitest';
import { filtersOverlap, isValidFilter, topicMatches } from '../../gateway/src/sinks/mqtt/topic-filter.js';
import { gatewayStatusMessage, Topics } from '../../gateway/src/sinks/mqtt/topics.js';

const t = new Topics({ prefix: 'shouwang', site: 'v1' });

describe('topics', () => {
  it('builds every topic of the tree', () => {
    expect(t.state('lock-1')).toBe('shouwang/v1/lock-1/state');
    expect(t.availability('lock-1')).toBe('shouwang/v1/lock-1/availability');
    expect(t.event('lock-1')).toBe('shouwang/v1/lock-1/event');
    expect(t.up('door-7')).toBe('shouwang/v1/door-7/up');
    expect(t.set('lock-1', 'unlock')).toBe('shouwang/v1/lock-1/set/unlock');
    expect(t.setFilter('lock-1')).toBe('shouwang/v1/lock-1/set/#');
    expect(t.alarm('01HX')).toBe('shouwang/v1/alarm/01HX');
    expect(t.gatewayStatus()).toBe('shouwang/v1/gateway/status');
    expect(gatewayStatusMessage(t, 'offline')).toEqual({ topic: 'shouwang/v1/gateway/status', payload: 'offline', qos: 1, retain: true });
  });

  it('refuses ids that would break the tree', () => {
    expect(() => t.state('a/b')).toThrow(/device id "a\/b"/);
    expect(() => t.set('lock', '#')).toThrow(/command/);
    expect(() => new Topics({ prefix: 'x', site: '+' })).toThrow(/site id/);
  });

  it.each([
    ['shouwang/v1/lock-1/state', { kind: 'state', device: 'lock-1' }],
    ['shouwang/v1/lock-1/availability', { kind: 'availability', device: 'lock-1' }],
    ['shouwang/v1/lock-1/event', { kind: 'event', device: 'lock-1' }],
    ['shouwang/v1/door-7/up', { kind: 'up', device: 'door-7' }],
    ['shouwang/v1/lock-1/set/unlock', { kind: 'set', device: 'lock-1', command: 'unlock' }],
    ['shouwang/v1/alarm/01HX', { kind: 'alarm', alarmId: '01HX' }],
    ['shouwang/v1/gateway/status', { kind: 'gateway-status' }],
    ['shouwang/v1/gateway/set/reset_alarm', { kind: 'set', device: 'gateway', command: 'reset_alarm' }],
  ])('parses %s', (topic, parsed) => {
    expect(t.parse(topic)).toEqual(parsed);
  });

  it.each([
    'shouwang/v2/lock-1/state',
    'other/v1/lock-1/state',
    'shouwang/v1/lock-1',
    'shouwang/v1/lock-1/set',
    'shouwang/v1/lock-1/set/unlock/extra',
    'shouwang/v1/lock-1/state/x',
    'shouwang/v1//state',
    'shouwang/v1/alarm/x/y',
    'shouwang/v1/gateway/other',
    'shouwang/v1/lock-1/whatever',
  ])('does not classify %s', (topic) => {
    expect(t.parse(topic)).toBeUndefined();
  });
});

describe('topic filters', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
  ])('%s matches %s: %s', (f, topic, expected) => {
    expect(topicMatches(f, topic)).toBe(expected);
  });

  it.each([
    ['a/+/c', 'a/b/+', true],
    ['a/b/state', 'a/+/set/#', false],
    ['a/+/state', 'a/#', true],
    ['a/+/state', '#', true],
    ['a/b', 'a/b/c', false],
    ['a/b/#', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['$SYS/#', '#', false],
    ['$SYS/#', '$SYS/+', true],
    ['x/+/set/#', 'x/d1/set/unlock', true],
    ['x/d1/set/#', 'x/d2/set/#', false],
  ])('%s overlaps %s: %s', (a, b, expected) => {
    expect(filtersOverlap(a, b)).toBe(expected);
    expect(filtersOverlap(b, a)).toBe(expected);
  });

  it('validates filters', () => {
    expect(isValidFilter('a/+/b/#')).toBe(true);
    expect(isValidFilter('a/#/b')).toBe(false);
    expect(isValidFilter('a/b#')).toBe(false);
    expect(isValidFilter('a/b+')).toBe(false);
    expect(isValidFilter('')).toBe(false);
  });
});
