/** Types shared by the Modbus bus scheduler and the raw-serial poller (what app.ts wires). */
import type { DeviceConfig } from '../config/schema.js';
import type { Availability, DeviceStatus, PointValue } from '../core/types.js';
import type { PollClass, Profile } from '../profiles/schema.js';
import type { HistogramSnapshot } from './histogram.js';

/** Poll class of a block: a profile class, or `custom` for a point with its own interval in ms. */
export type BlockPollClass = PollClass | 'custom';

/** Faster classes first: the scheduler's tie-break among reads due at once, and the class a shared block is named after. */
export const POLL_CLASS_RANK: Readonly<Record<BlockPollClass, number>> = { alarm: 0, fast: 1, custom: 2, normal: 3, slow: 4 };

/** One read's decoded values, as handed to `onValues`. */
export interface ValuesBatch {
  device: string;
  /** Decoded values of the points that were read (decimalsFrom applied). */
  values: Record<string, PointValue>;
  /** Gateway time of the read (when the reply arrived). */
  ts: number;
  /** Class of the block that was read; `push` for an unsolicited raw-serial frame. */
  pollClass: BlockPollClass | 'push';
  /** Points read but not decodable, or whose block got a Modbus exception: point id -> reason. Publish as quality `bad`. */
  bad?: Record<string, string>;
  /**
   * The block's registers were exactly those of its previous read, so these are the values
   * decoded then: nothing changed for rules or state, only the points' freshness (the values
   * are still all there, for a consumer that needs them).
   */
  unchanged?: boolean;
}

export interface PollingCallbacks {
  onValues: (batch: ValuesBatch) => void;
  onStatus: (status: DeviceStatus) => void;
}

/** A device instance with its profile, as the pollers take them. */
export interface PolledDevice {
  config: DeviceConfig;
  profile: Profile;
}

export interface DevicePollStats {
  device: string;
  availability: Availability | 'unknown';
  /** Successful transactions (reads and writes). */
  success: number;
  /** Failed transactions of any kind (timeouts, CRC/frame errors, closed transport, Modbus exceptions). */
  failures: number;
  /** Of `failures`, the Modbus exception replies (device alive, block failed). */
  exceptions: number;
  /** Of `failures`: no reply in time; a reply with a bad CRC / checksum; a malformed reply. The rest (closed transport, other errors) are in none of these. */
  timeouts: number;
  crcErrors: number;
  frameErrors: number;
  consecutiveFailures: number;
  /** Duration of the last answered transaction, ms, and when it ended. */
  lastResponseMs?: number;
  lastResponseAt?: number;
  breaker: 'closed' | 'open';
  breakerTrips: number;
  nextProbeAt?: number;
  responseTime: HistogramSnapshot;
}

export interface BusPollStats {
  bus: string;
  /** Transactions attempted (reads + writes/commands). */
  transactions: number;
  reads: number;
  writes: number;
  failures: number;
  exceptions: number;
  /** Pending reads + writes right now, and the most ever. */
  queueDepth: number;
  queueHighWater: number;
  queueLimit: number;
  /** Reads not queued because the queue was full (and writes rejected for the same reason). */
  dropped: number;
  /** Periods that fell due while the same block was still queued or in flight: served by that one read, never queued twice. */
  coalesced: number;
  /** Reads skipped because the device's breaker was open. */
  skipped: number;
  /** Alarm sweeps run (those that read at least one block) and the duration of the last complete one. */
  sweeps: number;
  lastSweepMs?: number;
  /** Unsolicited frames received (raw serial). */
  pushes: number;
  devices: Record<string, DevicePollStats>;
}
