/** Public surface of the health module (what app.ts, the web API and tests use). */
export {
  HealthService,
  DEFAULT_WINDOWS_MS,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_RATE_WINDOW_MS,
  type HealthServiceOptions,
  type HealthDevice,
} from './health-service.js';
export { registerHealthRoutes } from './health-routes.js';
export { createHealthMetrics, METRICS_CONTENT_TYPE, type HealthMetrics, type HealthMetricsOptions } from './metrics.js';
export { countBrokerMessages, type MqttMessageCounter, type MqttMessageCounts } from './mqtt-message-counter.js';
export { healthPoints, type HealthPoint } from './health-points.js';
export type {
  HealthSnapshot,
  HealthSummary,
  DeviceHealthEntry,
  BusHealthEntry,
  OnlineWindow,
  AlarmPathStats,
  BrokerStatsInput,
  BusStatsInput,
  BusLine,
  InfluxStatsInput,
} from './health-snapshot.js';
export { AvailabilityTimeline, onlineRatio, type ObservedState, type OnlineTime } from './availability-timeline.js';
export { onlineRollups, rollUp, windowLabel, type DeviceIdentity, type RateRollup, type OnlineRollups } from './online-rate.js';
