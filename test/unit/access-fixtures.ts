/**
 * Shared set-up of the access tests: a real SQLite store in a temp dir, the registry with a
 * real key file, device events shaped like the shipped lock and controller profiles' `pass`.
 * Not a test itself (no `.test.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PiiCrypto } from '../../gateway/src/access/pii-crypto.js';
import { Registry } from '../../gateway/src/access/registry.js';
import type { DeviceEvent, PointValue } from '../../gateway/src/core/types.js';
import { openStore, type Store } from '../../gateway/src/store/store.js';

export const DAY = 86_400_000;
/** 2025-03-01T00:00:00+08:00 */
export const T0 = Date.parse('2025-03-01T00:00:00+08:00');

/** Valid-looking 18-character ID numbers used as test data (never real people). */
export const ID_NUMBERS = ['440106199001011234', '44030519850505678X', '110101200001010011'] as const;

export interface AccessFixture {
  dir: string;
  store: Store;
  crypto: PiiCrypto;
  registry: Registry;
  clock: { now: number };
  close(): void;
}

export function accessFixture(now = T0): AccessFixture {
  const dir = mkdtempSync(join(tmpdir(), 'sw-access-'));
  const store = openStore({ dir });
  const { crypto } = PiiCrypto.fromKeyFile(join(dir, 'pii.key'));
  const clock = { now };
  const registry = new Registry({ table: store.registry, crypto, clock: () => clock.now });
  return {
    dir,
    store,
    crypto,
    registry,
    clock,
    close: () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Building A with rooms R-101 (door lock-101), R-102 (lock-102), R-103 (lock-103). */
export function seedBuilding(r: Registry): void {
  r.createBuilding({ id: 'A', site: 'testvillage', name: 'A栋' });
  for (const n of ['101', '102', '103']) r.createRoom({ id: `R-${n}`, building: 'A', number: n, floor: '1', doors: [`lock-${n}`] });
}

let seq = 0;
export function passEvent(device: string, fields: Record<string, PointValue>, ts: number, profile = 'generic-rs485-fingerprint-lock'): DeviceEvent {
  seq++;
  return { id: `EV${String(seq).padStart(8, '0')}-${device}`, site: 'testvillage', device, profile, event: 'pass', kind: 'access', ts, fields };
}

export const lockPass = (device: string, user: number, method: string, ts: number, result = 'granted') =>
  passEvent(device, { last_user: user, last_method: method, last_result: result }, ts);

export const controllerPass = (device: string, card: number, method: string, ts: number, user = 0, result = 'granted') =>
  passEvent(device, { last_card: card, last_method: method, last_result: result, last_user: user }, ts, 'generic-access-controller');
