/**
 * The alarm wire bound of a bus, from the gateway's own poll plans: one alarm sweep (every
 * alarm-class block, as the scheduler sweeps them) + the longest other transaction that may
 * already be on the wire, each at its wire minimum (both frames + both 3.5-character silences).
 * Shared by the alarm benches; not a bench itself.
 */
import { blockWireBytes, type ReadBlock } from '../../gateway/src/polling/planner.js';
import { transactionMinMs } from '../../gateway/src/protocol/wire-timing.js';

export interface Bound {
  sweepMs: number;
  polesOnlySweepMs: number;
  alarmBlocks: number;
  maxOtherMs: number;
  maxOtherId: string;
  maxAlarmTxMs: number;
  boundMs: number;
}

export function wireBound(blocks: readonly ReadBlock[], poles: ReadonlySet<string>, baud: number): Bound {
  const cost = (b: ReadBlock) => {
    const { request, reply } = blockWireBytes(b.table, b.count);
    return transactionMinMs(request, reply, baud);
  };
  const alarm = blocks.filter((b) => b.pollClass === 'alarm');
  const others = blocks.filter((b) => b.pollClass !== 'alarm');
  const sweepMs = alarm.reduce((s, b) => s + cost(b), 0);
  // "The smallest alarm read of each pole": poles have a single alarm block each.
  const polesOnlySweepMs = [...poles].reduce((s, p) => s + Math.min(...alarm.filter((b) => b.device === p).map(cost)), 0);
  let maxOther = others[0]!;
  for (const b of others) if (cost(b) > cost(maxOther)) maxOther = b;
  const maxOtherMs = cost(maxOther);
  return {
    sweepMs,
    polesOnlySweepMs,
    alarmBlocks: alarm.length,
    maxOtherMs,
    maxOtherId: maxOther.id,
    maxAlarmTxMs: Math.max(...alarm.map(cost)),
    boundMs: sweepMs + maxOtherMs,
  };
}

