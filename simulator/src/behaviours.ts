/**
 * Village life: tenants come and go, strangers try wrong fingerprints, poles get pressed,
 * detectors see smoke and gas. Each behaviour writes the contract's point ids
 * (docs/profile-contract.md) into device images; the gateway only ever sees registers change,
 * as with real devices.
 *
 * A tick draws from a seeded RNG in a fixed order (device by device, behaviour by behaviour),
 * so one seed plays one story. Everything an API call or a test can trigger (press, pass,
 * stranger, tamper) is the same function the tick uses.
 */
import type { Logger } from '../../gateway/src/log.js';
import { epochNow } from './clock.js';
import type { SimDevice, WriteRecord } from './device-model.js';
import type { Rng } from './rng.js';
import type { AccessMethod, BehaviourRates, VillageBehaviour } from './village-schema.js';

const TICK_MS = 250;
const LOCK_METHOD_CODES: readonly AccessMethod[] = ['fingerprint', 'card', 'pin', 'temp_code', 'remote', 'key'];

export interface PassResult {
  ts: number;
  user: number;
  method: string;
}

/** Behaviours per device kind and the rate that drives each. */
const SCHEDULE: Partial<Record<SimDevice['kind'], Array<[keyof BehaviourRates, (life: VillageLife, d: SimDevice) => void]>>> = {
  'door-lock': [
    ['tenantPass', (l, d) => void l.pass(d)],
    ['stranger', (l, d) => void l.stranger(d)],
    ['tamper', (l, d) => void l.tamper(d)],
    ['lowBattery', (l, d) => void l.lowBattery(d)],
  ],
  'access-controller': [
    ['accessPass', (l, d) => void l.pass(d)],
    ['tamper', (l, d) => void l.tamper(d)],
  ],
  'alarm-pole': [
    ['polePress', (l, d) => void l.press(d)],
    ['tamper', (l, d) => void l.tamper(d)],
  ],
  'io-module': [['ioInput', (l, d) => void l.ioInput(d)]],
  'door-contact': [
    ['doorContact', (l, d) => void l.doorContact(d)],
    ['tamper', (l, d) => void l.tamper(d)],
    ['lowBattery', (l, d) => void l.lowBattery(d)],
  ],
  pir: [
    ['motion', (l, d) => void l.motion(d)],
    ['tamper', (l, d) => void l.tamper(d)],
  ],
  'smoke-detector': [
    ['smoke', (l, d) => void l.smoke(d)],
    ['tamper', (l, d) => void l.tamper(d)],
  ],
  'gas-detector': [['gas', (l, d) => void l.gas(d)]],
  'lock-board': [['lockBoardDoor', (l, d) => void l.lockBoardDoor(d)]],
};

export class VillageLife {
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Devices in the middle of a sequence (a door open, a smoke rise): no second one starts. */
  private readonly busy = new Set<string>();
  private readonly unsubscribe: Array<() => void> = [];
  private lastTick = 0;
  enabled: boolean;

  constructor(
    private readonly devices: readonly SimDevice[],
    private readonly behaviour: VillageBehaviour,
    private readonly rng: Rng,
    private readonly log: Logger,
  ) {
    this.enabled = behaviour.enabled;
    // Commands arrive as writes; devices react to them whether or not random life is on.
    for (const d of devices) this.unsubscribe.push(d.onWrite((w) => this.onMasterWrite(d, w)));
  }

  start(): void {
    this.lastTick = Date.now();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  /** One step of random life. Public for tests: `tick(dtMs)` without a timer. */
  tick(dtMs = Date.now() - this.lastTick): void {
    this.lastTick = Date.now();
    if (!this.enabled) return;
    const rates = this.behaviour.rates;
    for (const d of this.devices) {
      for (const [rate, act] of SCHEDULE[d.kind] ?? []) {
        const perHour = rates[rate];
        if (perHour <= 0) continue;
        if (!this.rng.chance((perHour * dtMs) / 3_600_000)) continue;
        if (this.busy.has(d.id) || d.faults.dead) continue;
        try {
          act(this, d);
        } catch (err) {
          this.log.warn({ device: d.id, behaviour: rate, err: String(err) }, 'behaviour failed');
        }
      }
    }
  }

  /** A tenant (or a card holder at an entrance) passes: log head, bolt, door opens and closes. */
  pass(d: SimDevice, opts: { user?: number; method?: string; result?: 'granted' | 'denied' | 'duress' } = {}): PassResult {
    const tenant = opts.user !== undefined ? d.tenants.find((t) => t.slot === opts.user) : d.tenants.length > 0 ? this.rng.pick(d.tenants) : undefined;
    const user = opts.user ?? tenant?.slot ?? this.rng.int(1, 20);
    const isController = d.kind === 'access-controller';
    const defaultMethods: readonly string[] = isController ? ['card', 'id_card', 'face'] : ['fingerprint', 'card', 'pin'];
    const method = opts.method ?? this.rng.pick(tenant?.methods.filter((m) => this.methodKnown(d, m)) ?? defaultMethods.filter((m) => this.methodKnown(d, m)));
    const result = opts.result ?? 'granted';
    const ts = epochNow();
    this.bumpSeq(d);
    if (d.has('last_user')) d.set('last_user', user);
    if (d.has('last_card')) d.set('last_card', tenant?.card ?? cardNumberFor(d.id, user));
    d.set('last_method', method);
    d.set('last_result', result);
    if (result === 'denied') return { ts, user, method };
    if (d.has('invalid_count')) d.set('invalid_count', 0);
    if (d.has('alarm_code')) d.set('alarm_code', result === 'duress' ? 'duress' : 'none');
    this.openDoor(d, isController ? 'lock' : 'bolt');
    return { ts, user, method };
  }

  /** A stranger tries wrong fingerprints, a few seconds apart; after five the lock raises invalid_credential. */
  stranger(d: SimDevice, opts: { attempts?: number } = {}): { ts: number; attempts: number } {
    const attempts = opts.attempts ?? this.rng.int(2, 7);
    const ts = epochNow();
    this.busy.add(d.id);
    const tryOnce = (left: number) => {
      this.bumpSeq(d);
      if (d.has('last_user')) d.set('last_user', 0);
      d.set('last_method', 'fingerprint');
      d.set('last_result', 'denied');
      const count = Number(d.get('invalid_count') ?? 0) + 1;
      d.set('invalid_count', count);
      if (count > 4 && d.has('alarm_code')) d.set('alarm_code', 'invalid_credential');
      if (left > 1) this.after(this.rng.range(2000, 4000), () => tryOnce(left - 1));
      else this.busy.delete(d.id);
    };
    tryOnce(attempts);
    return { ts, attempts };
  }

  /** Someone presses the pole's button: pressed for ~1.5 s, then released (the gateway latches the alarm). */
  press(d: SimDevice, opts: { holdMs?: number } = {}): { ts: number; releaseAt: number } {
    const hold = opts.holdMs ?? 1500;
    d.set('button', 'pressed');
    const ts = epochNow();
    if (d.has('call_state')) d.set('call_state', 'calling');
    this.after(hold, () => d.set('button', 'released'));
    if (d.has('call_state')) {
      this.after(hold + 8000, () => d.set('call_state', 'talking'));
      this.after(hold + 30_000, () => d.set('call_state', 'idle'));
    }
    return { ts, releaseAt: ts + hold };
  }

  /** Tamper switch opens; it closes again after `holdMs` (default 20 s) unless `on` is given explicitly. */
  tamper(d: SimDevice, opts: { on?: boolean; holdMs?: number } = {}): { ts: number } {
    const on = opts.on ?? true;
    d.set('tamper', on ? 'tampered' : 'normal');
    const ts = epochNow();
    if (on && (opts.on === undefined || opts.holdMs !== undefined)) this.after(opts.holdMs ?? 20_000, () => d.set('tamper', 'normal'));
    return { ts };
  }

  /** Battery sags below the low mark; someone replaces it ten minutes later. */
  lowBattery(d: SimDevice): void {
    const def = d.pointDef('battery');
    const before = d.get('battery');
    if (def && typeof before === 'number') d.set('battery', def.unit === '%' ? 8 : Number((before * 0.75).toFixed(2)));
    d.set('battery_low', 'low');
    this.after(600_000, () => {
      if (typeof before === 'number') d.set('battery', before);
      d.set('battery_low', 'normal');
    });
  }

  /** Smoke builds up over ~10 s, the detector alarms, it clears a minute later. */
  smoke(d: SimDevice): void {
    this.busy.add(d.id);
    const peak = this.rng.range(12, 20);
    const steps = 10;
    for (let i = 1; i <= steps; i++) {
      this.after(i * 1000, () => {
        const level = (peak * i) / steps;
        if (d.has('smoke_level')) d.set('smoke_level', Number(level.toFixed(2)));
        if (i === Math.ceil(steps / 2)) {
          d.set('smoke', 'alarm');
          this.setStatusFlag(d, 'alarm', true);
        }
      });
    }
    for (let i = 1; i <= steps; i++) {
      this.after(60_000 + i * 2000, () => {
        if (d.has('smoke_level')) d.set('smoke_level', Number(((peak * (steps - i)) / steps).toFixed(2)));
        if (i === steps) {
          d.set('smoke', 'normal');
          this.setStatusFlag(d, 'alarm', false);
          this.busy.delete(d.id);
        }
      });
    }
  }

  /** Gas concentration rises past 25 %LEL over ~20 s, then decays below 20 and the alarm clears. */
  gas(d: SimDevice): void {
    this.busy.add(d.id);
    const peak = this.rng.range(30, 45);
    const steps = 20;
    for (let i = 1; i <= steps; i++) {
      this.after(i * 1000, () => {
        const c = (peak * i) / steps;
        this.setGas(d, c);
        if (c >= 25 && d.get('gas_alarm') !== 'alarm' && d.has('gas_alarm')) d.set('gas_alarm', 'alarm');
      });
    }
    for (let i = 1; i <= steps; i++) {
      this.after(40_000 + i * 1500, () => {
        const c = (peak * (steps - i)) / steps;
        this.setGas(d, c);
        if (c < 20 && d.has('gas_alarm')) d.set('gas_alarm', 'normal');
        if (i === steps) this.busy.delete(d.id);
      });
    }
  }

  /** Both readings of the concentration (integer with decimals, and float) move together. */
  private setGas(d: SimDevice, c: number): void {
    d.set('concentration', Number(c.toFixed(1)));
    if (d.has('concentration_f')) d.set('concentration_f', Number(c.toFixed(2)));
  }

  motion(d: SimDevice): void {
    this.busy.add(d.id);
    d.set('motion', 'motion');
    this.after(this.rng.range(3000, 10_000), () => {
      d.set('motion', 'idle');
      this.busy.delete(d.id);
    });
  }

  doorContact(d: SimDevice): void {
    this.busy.add(d.id);
    d.set('contact', 'open');
    this.after(this.rng.range(5000, 30_000), () => {
      d.set('contact', 'closed');
      this.busy.delete(d.id);
    });
  }

  /** One input of an I/O module closes for a while (a zone door, a fence beam). */
  ioInput(d: SimDevice): void {
    const inputs = d.profile.points.filter((p) => /^di\d+$/.test(p.id) && p.type === 'bool').map((p) => p.id);
    if (inputs.length === 0) return;
    const input = this.rng.pick(inputs);
    this.busy.add(d.id);
    this.setIo(d, input, true);
    this.after(this.rng.range(5000, 20_000), () => {
      this.setIo(d, input, false);
      this.busy.delete(d.id);
    });
  }

  /** A door behind a raw-serial lock board is opened with the key (no command), and closed again. */
  lockBoardDoor(d: SimDevice): void {
    const door = this.rng.int(1, Math.max(1, lockBoardSize(d)));
    this.busy.add(d.id);
    setLockBoardDoor(d, door, true);
    this.after(this.rng.range(3000, 10_000), () => {
      setLockBoardDoor(d, door, false);
      this.busy.delete(d.id);
    });
  }

  /** The board's open_lock command: the lock releases, the door opens, closes, the lock re-latches. */
  lockBoardOpen(d: SimDevice, lock: number): void {
    setLockBoardLock(d, lock, false);
    this.after(800, () => setLockBoardDoor(d, lock, true));
    const [lo, hi] = this.behaviour.doorOpenSeconds;
    this.after(800 + this.rng.range(lo, hi) * 1000, () => {
      setLockBoardDoor(d, lock, false);
      setLockBoardLock(d, lock, true);
    });
  }

  /** Set one input and keep the module's input bitmap (bit n = input n+1) in step. */
  private setIo(d: SimDevice, input: string, on: boolean): void {
    d.set(input, on);
    const bitmap = d.pointDef('di_bitmap');
    if (bitmap?.type !== 'bitfield') return;
    const flags: Record<string, boolean> = {};
    for (const [bit, name] of Object.entries(bitmap.bits ?? {})) {
      const v = d.get(`di${Number(bit) + 1}`) ?? d.get(name);
      flags[name] = v === true || v === 'alarm' || v === 'open' || v === 'on';
    }
    d.set('di_bitmap', flags);
  }

  /** Keep a status bitfield's flag in step with a discrete point (smoke detectors report both). */
  private setStatusFlag(d: SimDevice, flag: string, on: boolean): void {
    const def = d.pointDef('status');
    if (def?.type !== 'bitfield' || !Object.values(def.bits ?? {}).includes(flag)) return;
    const cur = (d.get('status') ?? {}) as Record<string, boolean>;
    d.set('status', { ...cur, [flag]: on });
  }

  /** Bolt (or lock) released, door opens, stays open a few seconds, closes, bolt thrown. */
  private openDoor(d: SimDevice, lockPoint: 'bolt' | 'lock'): void {
    this.busy.add(d.id);
    if (d.has(lockPoint)) d.set(lockPoint, 'unlocked');
    const [lo, hi] = this.behaviour.doorOpenSeconds;
    const openAfter = this.rng.range(500, 1500);
    const openFor = this.rng.range(lo, hi) * 1000;
    this.after(openAfter, () => d.set('door', 'open'));
    this.after(openAfter + openFor, () => d.set('door', 'closed'));
    this.after(openAfter + openFor + 500, () => {
      if (d.has(lockPoint)) d.set(lockPoint, 'locked');
      this.busy.delete(d.id);
    });
  }

  private bumpSeq(d: SimDevice): void {
    const seq = d.get('event_seq');
    d.set('event_seq', ((typeof seq === 'number' ? seq : 0) + 1) & 0xffff);
  }

  private methodKnown(d: SimDevice, method: string): boolean {
    const def = d.pointDef('last_method');
    if (!def?.map) return LOCK_METHOD_CODES.includes(method as AccessMethod);
    return Object.values(def.map).includes(method);
  }

  /** React to the master's writes: the profile's `unlock` command releases the lock (a remote pass). */
  private onMasterWrite(d: SimDevice, w: WriteRecord): void {
    if (w.table === 'frame') {
      if (w.command === 'open_lock' && w.values.length > 0) this.lockBoardOpen(d, w.values[0]!);
      return;
    }
    const unlock = d.profile.commands.find((c) => c.id === 'unlock' && c.write);
    const target = unlock?.write;
    if (!target || target.table !== w.table) return;
    const i = target.address - w.address;
    if (i < 0 || i >= w.values.length) return;
    const lockPoint = d.kind === 'access-controller' ? 'lock' : 'bolt';
    if (w.values[i]) {
      if (!d.has(lockPoint) || d.get(lockPoint) === 'unlocked') return;
      this.bumpSeq(d);
      if (d.has('last_user')) d.set('last_user', 0);
      if (this.methodKnown(d, 'remote')) d.set('last_method', 'remote');
      d.set('last_result', 'granted');
      d.set(lockPoint, 'unlocked');
      // The lock re-latches by itself after its unlock time, pulse or no pulse from the master.
      const delay = [d.get('unlock_time'), d.get('auto_lock_delay')].find((v): v is number => typeof v === 'number' && v > 0) ?? 5;
      this.after(delay * 1000, () => {
        if (d.get('door') !== 'open' && !this.busy.has(d.id)) d.set(lockPoint, 'locked');
      });
    } else if (d.has(lockPoint) && d.get('door') !== 'open' && !this.busy.has(d.id)) {
      d.set(lockPoint, 'locked');
    }
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      try {
        fn();
      } catch (err) {
        this.log.warn({ err: String(err) }, 'behaviour step failed');
      }
    }, ms);
    this.timers.add(t);
  }
}

/** A stable card number per (device, slot), so a tenant's card reads the same every pass. */
function cardNumberFor(deviceId: string, slot: number): number {
  let h = 2166136261;
  for (const c of `${deviceId}/${slot}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return (h >>> 0) % 100_000_000;
}

// ---- raw-serial lock board state (bitfield points `locks` and `doors`, bit n-1 = lock/door n) ----

/** How many locks the board has: the widest of its lock/door bitfields. */
export function lockBoardSize(d: SimDevice): number {
  let n = 0;
  for (const id of ['locks', 'doors']) {
    const def = d.pointDef(id);
    if (def?.type === 'bitfield') n = Math.max(n, Object.keys(def.bits ?? {}).length);
  }
  return n;
}

function setBoardBit(d: SimDevice, pointId: string, n: number, on: boolean): boolean {
  const def = d.pointDef(pointId);
  if (!def || def.type !== 'bitfield') {
    d.set(pointId, null); // reports the missing point once
    return false;
  }
  const name = def.bits?.[String(n - 1)];
  if (!name) return false;
  const cur = (d.get(pointId) ?? {}) as Record<string, boolean>;
  d.set(pointId, { ...cur, [name]: on });
  return true;
}

/** `locked` true = latched. The profile's bitfield tells which bit; its flag meaning is "open" when named so. */
export function setLockBoardLock(d: SimDevice, lock: number, locked: boolean): void {
  setBoardBit(d, 'locks', lock, lockFlagFor(d, 'locks', locked));
}

export function setLockBoardDoor(d: SimDevice, door: number, open: boolean): void {
  setBoardBit(d, 'doors', door, open);
}

/** Lock boards report "1 = unlocked (released)"; a profile may say so with a `*_open`/`unlocked` bit name. */
function lockFlagFor(d: SimDevice, pointId: string, locked: boolean): boolean {
  const def = d.pointDef(pointId);
  const names = Object.values(def?.bits ?? {});
  const meansLocked = names.some((n) => /locked$/.test(n) && !/unlocked$/.test(n));
  return meansLocked ? locked : !locked;
}

