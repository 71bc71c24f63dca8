/**
 * The alarm lifecycle (ARCHITECTURE.md): raised -> queued -> sent -> delivered (receiver ACK)
 * -> acknowledged (operator) -> reset. Moves go forward only; steps may be skipped (a receiver's
 * ACK can arrive without a separate `sent` record), and a person may reset from any state.
 * Nothing leaves `reset`.
 */
import type { AlarmState } from '../core/types.js';

export const ALARM_STATES: readonly AlarmState[] = ['raised', 'queued', 'sent', 'delivered', 'acknowledged', 'reset'];

export function stateRank(state: AlarmState): number {
  return ALARM_STATES.indexOf(state);
}

/** Why the move is not allowed, or undefined when it is. */
export function transitionProblem(from: AlarmState, to: AlarmState): string | undefined {
  if (!ALARM_STATES.includes(to)) return `unknown state "${String(to)}"`;
  if (from === 'reset') return 'the alarm is already reset';
  if (from === to) return `the alarm is already ${to}`;
  if (stateRank(to) < stateRank(from)) return `cannot go back from ${from} to ${to}`;
  return undefined;
}
