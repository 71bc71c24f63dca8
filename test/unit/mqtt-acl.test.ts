import { describe, expect, it } from 'vitest';
import { Acl, ANONYMOUS, type AclIdentity } from '../../gateway/src/sinks/mqtt/acl.js';
import { Topics } from '../../gateway/src/sinks/mqtt/topics.js';

const topics = new Topics({ prefix: 'shouwang', site: 'v1' });
const acl = new Acl(topics);

const who = (role: AclIdentity['role'], extra: Partial<AclIdentity> = {}): AclIdentity => ({
  username: role,
  role,
  publish: [],
  subscribe: [],
  ...extra,
});
const device = who('device', { username: 'door-7', device: 'door-7' });
const app = who('app');
const nodered = who('nodered');
const upstream = who('upstream');
const admin = who('admin');
const anon = ANONYMOUS;

const T = {
  ownUp: 'shouwang/v1/door-7/up',
  otherUp: 'shouwang/v1/door-8/up',
  state: 'shouwang/v1/lock-1/state',
  avail: 'shouwang/v1/lock-1/availability',
  event: 'shouwang/v1/lock-1/event',
  alarm: 'shouwang/v1/alarm/01HX',
  status: 'shouwang/v1/gateway/status',
  ownSet: 'shouwang/v1/door-7/set/unlock',
  set: 'shouwang/v1/lock-1/set/unlock',
  otherSite: 'shouwang/v2/lock-1/state',
  outside: 'home/kitchen/light',
  sys: '$SYS/broker/x',
};

// Expected publish rights: [device, app, nodered, upstream, admin, anonymous]
const publishMatrix: Array<[keyof typeof T, boolean[]]> = [
  ['ownUp', [true, false, false, false, true, false]],
  ['otherUp', [false, false, false, false, true, false]],
  ['state', [false, false, false, false, false, false]],
  ['avail', [false, false, false, false, false, false]],
  ['event', [false, false, false, false, false, false]],
  ['alarm', [false, false, false, false, false, false]],
  ['status', [false, false, false, false, false, false]],
  ['ownSet', [false, false, false, false, true, false]],
  ['set', [false, false, false, false, true, false]],
  ['otherSite', [false, false, false, false, true, false]],
  ['outside', [false, true, true, true, true, false]],
  ['sys', [false, false, false, false, false, false]],
];

// Expected read rights (deliveries): [device, app, nodered, upstream, admin, anonymous]
const readMatrix: Array<[keyof typeof T, boolean[]]> = [
  ['ownUp', [false, false, false, false, true, false]],
  ['state', [false, true, true, true, true, true]],
  ['avail', [false, true, true, true, true, true]],
  ['event', [false, true, true, true, true, true]],
  ['alarm', [false, true, true, true, true, false]],
  ['status', [false, true, true, true, true, true]],
  ['ownSet', [true, false, false, false, true, false]],
  ['set', [false, false, false, false, true, false]],
  ['outside', [false, true, true, true, true, false]],
  ['sys', [false, false, false, false, true, false]],
];

const ids = [device, app, nodered, upstream, admin, anon];

describe('ACL matrix', () => {
  it.each(publishMatrix)('publish %s', (topic, expected) => {
    expect(ids.map((id) => acl.canPublish(id, T[topic]))).toEqual(expected);
  });

  it.each(readMatrix)('read %s', (topic, expected) => {
    expect(ids.map((id) => acl.canRead(id, T[topic]))).toEqual(expected);
  });
});

describe('ACL subscriptions', () => {
  // Expected: [device, app, nodered, upstream, admin, anonymous]
  const subscribeMatrix: Array<[string, boolean[]]> = [
    ['shouwang/v1/door-7/set/#', [true, false, false, false, true, false]],
    ['shouwang/v1/door-7/set/unlock', [true, false, false, false, true, false]],
    ['shouwang/v1/+/set/#', [true, false, false, false, true, false]], // device: deliveries still limited to its own
    ['shouwang/v1/door-8/set/#', [false, false, false, false, true, false]],
    ['shouwang/v1/+/state', [false, true, true, true, true, true]],
    ['shouwang/v1/alarm/#', [false, true, true, true, true, false]],
    ['shouwang/v1/+/up', [false, false, false, false, true, false]],
    ['shouwang/#', [true, true, true, true, true, true]], // overlaps something readable; deliveries filtered
    ['#', [true, true, true, true, true, true]],
    ['home/#', [false, true, true, true, true, false]],
    ['$SYS/#', [false, false, false, false, true, false]],
    ['a/#/b', [false, false, false, false, false, false]],
  ];
  it.each(subscribeMatrix)('subscribe %s', (filter, expected) => {
    expect(ids.map((id) => acl.canSubscribe(id, filter))).toEqual(expected);
  });

  it('an app subscribed to shouwang/# receives state and alarms but not commands or uplinks', () => {
    expect(acl.canSubscribe(app, 'shouwang/#')).toBe(true);
    expect(acl.canRead(app, T.state)).toBe(true);
    expect(acl.canRead(app, T.alarm)).toBe(true);
    expect(acl.canRead(app, T.set)).toBe(false);
    expect(acl.canRead(app, T.ownUp)).toBe(false);
  });
});

describe('ACL and the shape of the tree', () => {
  it('reserved words keep device-level and alarm-level wildcards apart', () => {
    // "alarm" is never a device and "state"/"set" are never alarm ids.
    expect(acl.canRead(app, 'shouwang/v1/alarm/state')).toBe(false);
    expect(acl.canRead(anon, 'shouwang/v1/alarm/01HX')).toBe(false);
    expect(acl.canSubscribe(app, 'shouwang/v1/+/set')).toBe(false);
    expect(acl.canSubscribe(app, 'shouwang/v1/+/+')).toBe(true);
    expect(acl.canRead(app, 'shouwang/v1/lock-1/set')).toBe(false);
  });
});

describe('ACL grants from config', () => {
  it('extra publish filters open command topics to an app (and nothing else)', () => {
    const operator = who('app', { publish: ['shouwang/v1/+/set/unlock'] });
    expect(acl.canPublish(operator, 'shouwang/v1/lock-1/set/unlock')).toBe(true);
    expect(acl.canPublish(operator, 'shouwang/v1/lock-1/set/siren_on')).toBe(false);
    expect(acl.canPublish(operator, T.alarm)).toBe(false);
  });

  it('a grant is the only way to publish on gateway-owned topics, even for admin', () => {
    const bridge = who('admin', { publish: ['shouwang/v1/alarm/+'] });
    expect(acl.canPublish(admin, T.alarm)).toBe(false);
    expect(acl.canPublish(bridge, T.alarm)).toBe(true);
    expect(acl.canPublish(bridge, T.state)).toBe(false);
  });

  it('extra subscribe filters let a device read more', () => {
    const d = who('device', { device: 'door-7', subscribe: ['shouwang/v1/gateway/status'] });
    expect(acl.canSubscribe(d, 'shouwang/v1/gateway/status')).toBe(true);
    expect(acl.canRead(d, 'shouwang/v1/gateway/status')).toBe(true);
    expect(acl.canRead(d, T.state)).toBe(false);
  });

  it('a grant never opens $ topics for publishing', () => {
    expect(acl.canPublish(who('admin', { publish: ['#', '$SYS/#'] }), '$SYS/x')).toBe(false);
  });

  it('a device without a device id can do nothing', () => {
    const broken = who('device');
    expect(acl.canPublish(broken, T.ownUp)).toBe(false);
    expect(acl.canSubscribe(broken, 'shouwang/#')).toBe(false);
  });
});
