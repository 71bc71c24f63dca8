/** A pole's panic alarm (Contact ID 120 / SIA PA, emergency, latching) for tests: override what a test is about. */
import type { Alarm } from '../../gateway/src/core/types.js';

export function alarmFixture(over: Partial<Alarm> = {}): Alarm {
  return {
    id: '01J9ZK3W8N4Q6T2V5X7Y9A1B3C',
    site: 'v1',
    device: 'pole-3',
    profile: 'generic-alarm-pole',
    rule: 'panic',
    name: { zh: '紧急求助', en: 'Panic' },
    code: { cid: 120, sia: 'PA' },
    severity: 'emergency',
    kind: 'alarm',
    latch: true,
    silent: false,
    state: 'queued',
    raisedAt: 1718000000000,
    updatedAt: 1718000000000,
    fields: { button: 'pressed' },
    ...over,
  };
}
