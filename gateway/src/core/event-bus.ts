/**
 * A typed in-process event bus. Listeners are isolated: one that throws (or rejects) is
 * logged and does not stop the others or the emitter (zigbee2mqtt's habit).
 * The bus is for speed, never for durability: alarms are stored before they are emitted.
 */
import type { AccessRecord } from '../access/types.js';
import type { Alarm, DeviceEvent, DeviceStatus, PathHealth, Point } from './types.js';

export interface BusEvents {
  /** Points whose value or quality changed (report by exception), one batch per read. */
  points: { device: string; points: readonly Point[] };
  status: DeviceStatus;
  event: DeviceEvent;
  /** An alarm transition, already persisted. */
  alarm: Alarm;
  /** An alarm path (forwarder) was lost or came back. */
  path: PathHealth;
  /** A pass at a door, resolved against the rental-housing registry (access/types.ts), after it is stored. */
  access: AccessRecord;
}

export type BusListener<K extends keyof BusEvents> = (payload: BusEvents[K]) => void | Promise<void>;

export type ListenerErrorHandler = (event: keyof BusEvents, err: unknown) => void;

export class EventBus {
  private readonly listeners: { [K in keyof BusEvents]?: Set<BusListener<K>> } = {};

  constructor(private readonly onListenerError: ListenerErrorHandler = () => {}) {}

  on<K extends keyof BusEvents>(event: K, listener: BusListener<K>): () => void {
    let set = this.listeners[event] as Set<BusListener<K>> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, Set<BusListener<K>>>)[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void {
    const set = this.listeners[event] as Set<BusListener<K>> | undefined;
    if (!set) return;
    for (const listener of [...set]) {
      try {
        const result = listener(payload);
        if (result && typeof (result as Promise<void>).catch === 'function') {
          (result as Promise<void>).catch((err: unknown) => this.onListenerError(event, err));
        }
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }

  listenerCount(event: keyof BusEvents): number {
    return this.listeners[event]?.size ?? 0;
  }
}
