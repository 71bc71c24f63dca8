/**
 * DC-09 intake: the existing receiver (dc09-receiver.ts: TCP + UDP, window NAK, DUH, dedupe,
 * line supervision) with the board as its destination. A message is on the board (committed)
 * before `onEvent` resolves, and only then does the receiver ACK it; a board failure means no
 * ACK, so the transmitter retries.
 *
 * `toBoardInputs` is pure: one board entry per event (an SIA-DCS block may carry several).
 */
import type { Logger } from '../log.js';
import type { Clock } from '../polling/clock.js';
import type { AlarmBoard, BoardAlarmInput } from './alarm-board.js';
import { startDc09Receiver, type Dc09Receiver, type Dc09ReceivedEvent } from './dc09-receiver.js';
import { eventName, isSiaRestore } from './receiver-codes.js';
import { accountIndex, dc09ReceiverInput, type ReceiverAccount, type ReceiverConfig } from './receiver-config.js';
import { resolveDc09Location } from './receiver-location.js';

export function toBoardInputs(ev: Dc09ReceivedEvent, account: ReceiverAccount | undefined): BoardAlarmInput[] {
  const common = {
    intake: 'dc09' as const,
    account: ev.account.toUpperCase(),
    seq: ev.seq,
    protocol: ev.id,
    receivedAt: ev.receivedAt.getTime(),
    ...(ev.transmitterTime ? { transmitterAt: ev.transmitterTime.getTime() } : {}),
    detail: ev.data,
  };
  const located = (zone: number | undefined) => {
    const r = resolveDc09Location(account, zone, { location: ev.location, verificationUrl: ev.verificationUrl });
    return { location: r.location, ...(r.source ? { locationSource: r.source } : {}), ...(r.cameraUrl ? { cameraUrl: r.cameraUrl } : {}) };
  };
  if (ev.contactId) {
    const cid = ev.contactId;
    const kind = cid.qualifier === 3 ? 'restore' : 'alarm';
    const name = eventName({ cid: cid.event }, kind);
    return [
      {
        ...common,
        code: { cid: cid.event },
        kind,
        zone: cid.zone,
        group: cid.group,
        name: { zh: name.zh, en: name.en },
        severity: name.severity,
        ...located(cid.zone),
      },
    ];
  }
  const sia = ev.sia;
  if (!sia) return [];
  return sia.events.map((e) => {
    const kind = isSiaRestore(e.code) ? 'restore' : 'alarm';
    const name = eventName({ sia: e.code }, kind);
    const zone = e.address !== undefined && e.address !== '' ? Number(e.address) : undefined;
    return {
      ...common,
      code: { sia: e.code },
      kind,
      ...(zone === undefined ? {} : { zone }),
      ...(e.area === undefined ? {} : { group: e.area }),
      name: { zh: name.zh, en: name.en },
      severity: name.severity,
      ...located(zone),
    };
  });
}

export interface Dc09IntakeOptions {
  config: ReceiverConfig;
  board: AlarmBoard;
  log: Logger;
  clock?: Clock;
  /** Called after each stored alarm (the app uses it to log and count). */
  onStored?: (alarmId: number, created: boolean) => void;
}

export async function startDc09Intake(opts: Dc09IntakeOptions): Promise<Dc09Receiver> {
  const accounts = accountIndex(opts.config);
  return startDc09Receiver({
    ...dc09ReceiverInput(opts.config),
    log: opts.log,
    ...(opts.clock ? { clock: opts.clock } : {}),
    onEvent: (ev) => {
      // Synchronous SQLite commit: when this returns the alarm is durable, so the ACK may go.
      for (const input of toBoardInputs(ev, accounts.get(ev.account.toUpperCase()))) {
        const { alarm, created } = opts.board.record(input);
        opts.onStored?.(alarm.id, created);
      }
    },
    onLineLost: (account) => void opts.board.recordLine(account, 'lost'),
    onLineRestored: (account) => void opts.board.recordLine(account, 'restored'),
  });
}
