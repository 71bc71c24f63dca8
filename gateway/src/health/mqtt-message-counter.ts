/**
 * Counts the messages through the embedded broker, for message rates: those published by
 * clients (devices, apps, Node-RED) and those published by the gateway itself. Aedes' own
 * `$SYS` heartbeat messages are not counted. Attach once to the broker's Aedes instance.
 */
import type { Aedes } from 'aedes';

export interface MqttMessageCounts {
  /** Messages published by connected clients. */
  messagesIn: number;
  /** Messages published by the gateway (state, availability, events, alarms, health). */
  messagesOut: number;
}

export interface MqttMessageCounter {
  counts(): MqttMessageCounts;
  detach(): void;
}

export function countBrokerMessages(aedes: Pick<Aedes, 'on' | 'removeListener'>): MqttMessageCounter {
  const counts: MqttMessageCounts = { messagesIn: 0, messagesOut: 0 };
  const listener = (packet: { topic: string }, client: unknown): void => {
    if (client) counts.messagesIn++;
    else if (!packet.topic.startsWith('$SYS/')) counts.messagesOut++;
  };
  aedes.on('publish', listener);
  return {
    counts: () => ({ ...counts }),
    detach: () => void aedes.removeListener('publish', listener),
  };
}
