/** A real mqtt.js client that records what it receives, for integration tests. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { waitFor } from './processes.js';

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  /** Receipt time in the cross-process clock the simulator uses (performance.timeOrigin + now). */
  at: number;
}

export interface Recorder {
  client: MqttClient;
  messages: Received[];
  /** Wait until a message matches (already received or future). */
  waitFor(pred: (m: Received) => boolean, timeoutMs?: number, what?: string): Promise<Received>;
  close(): Promise<void>;
}

export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

export async function record(url: string, filters: string[], opts: IClientOptions = {}): Promise<Recorder> {
  const client = await connect(url, opts);
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain, at: wallClock() }));
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    messages,
    waitFor: (pred, timeoutMs = 10_000, what = 'an MQTT message') => waitFor(() => messages.find(pred), timeoutMs, what),
    close: () => client.endAsync(),
  };
}
