/**
 * The simulator's public API. `startSimulator` runs a village in this process; tests and the
 * gateway's demo usually run `simulator/src/main.ts` as a child process instead (wire timing
 * must not share an event loop with the gateway) and talk to it with `SimControlClient`.
 */
export { startSimulator, type SimulatorHandle, type StartSimulatorOptions } from './simulator.js';
export { gatewayConfigFor, tcpBusIdFor, type GatewayConfigOptions } from './gateway-config.js';
export { SimControlClient, SimControlError } from './control-client.js';
export type {
  BusEndpoint,
  BusFaults,
  BusStats,
  DeviceFaults,
  DeviceSummary,
  FaultsSnapshot,
  SimControl,
  SimEndpoints,
  SimStats,
  TcpDeviceEndpoint,
  WriteRecord,
} from './control-types.js';
export type { RtuBusStats, TimingSummary } from './rtu-bus.js';
export type { TcpBusStats } from './tcp-slaves.js';
export type { LockBoardStats } from './lock-board.js';
export { loadVillageFile, villageFromText, checkVillageProfiles, type Village, type VillageBus, type VillageDevice } from './village-schema.js';
export { SimDevice } from './device-model.js';
export { VirtualModem, type VirtualModemOptions, type ModemFaults, type SmsRecord } from './virtual-modem.js';
