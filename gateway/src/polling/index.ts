/** Public surface of the polling layer (what app.ts and the CLI use). */
export { BusScheduler, type BusSchedulerOptions } from './bus-scheduler.js';
export { RawSerialPoller, decodeFrame, type RawSerialPollerOptions } from './raw-serial-poller.js';
export {
  planDevice,
  decodeBlock,
  blockWireBytes,
  blockCostMs,
  resolvePoll,
  pointPoll,
  statePointSpecs,
  wireModelForBus,
  type WireModel,
  type PlannerOptions,
  type ReadBlock,
  type BlockPoint,
  type DevicePlan,
  type DecodedBlock,
  type ResolvedPoll,
} from './planner.js';
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { RESPONSE_TIME_BUCKETS_MS, type HistogramSnapshot } from './histogram.js';
export type { BlockPollClass, BusPollStats, DevicePollStats, PolledDevice, PollingCallbacks, ValuesBatch } from './types.js';
