/**
 * The gateway config that matches a running simulator: same buses, devices, unit ids and
 * locations, with the endpoints the simulator actually opened (pty paths, ports). The demo,
 * `shouwang simulate` and the tests all build their gateway config here, so gateway and
 * simulator cannot disagree about who sits where.
 */
import type { z } from 'zod';
import type { GatewayConfigInput, pollingSchema } from '../../gateway/src/config/schema.js';
import type { SimEndpoints } from './control-types.js';
import type { Village } from './village-schema.js';

type BusInput = NonNullable<GatewayConfigInput['buses']>[number];
type DeviceInput = NonNullable<GatewayConfigInput['devices']>[number];

export interface GatewayConfigOptions {
  /** Default: the village's profile directories (absolute). */
  profileDirs?: string[];
  storageDir?: string;
  /** Response timeout per request on every bus, ms. */
  busTimeoutMs?: number;
  /** Polling settings for every bus. */
  polling?: z.input<typeof pollingSchema>;
  mqtt?: GatewayConfigInput['mqtt'];
  log?: GatewayConfigInput['log'];
}

/** Gateway bus id of a Modbus TCP device (each has its own port, so its own gateway bus). */
export function tcpBusIdFor(villageBusId: string, deviceId: string): string {
  return `${villageBusId}-${deviceId}`;
}

export function gatewayConfigFor(village: Village, endpoints: SimEndpoints, opts: GatewayConfigOptions = {}): GatewayConfigInput {
  const common = {
    ...(opts.busTimeoutMs !== undefined ? { timeout: opts.busTimeoutMs } : {}),
    ...(opts.polling !== undefined ? { polling: opts.polling } : {}),
  };
  const buses: BusInput[] = [];
  const busOfDevice = new Map<string, string>();
  for (const ep of endpoints.buses) {
    const vb = village.buses.find((b) => b.id === ep.id);
    const name = vb?.name;
    if (ep.type === 'rtu') buses.push({ type: 'rtu', id: ep.id, name, path: ep.path, baudRate: ep.baud, parity: ep.parity, ...common });
    else if (ep.type === 'rtu-over-tcp') buses.push({ type: 'rtu-over-tcp', id: ep.id, name, host: ep.host, port: ep.port, baudRate: ep.baud, ...common });
    else buses.push({ type: 'raw-serial', id: ep.id, name, path: ep.path, baudRate: ep.baud, parity: ep.parity, ...common });
    for (const d of vb?.devices ?? []) busOfDevice.set(d.id, ep.id);
  }
  for (const ep of endpoints.tcpDevices) {
    const id = tcpBusIdFor(ep.bus, ep.id);
    buses.push({ type: 'tcp', id, host: ep.host, port: ep.port, ...common });
    busOfDevice.set(ep.id, id);
  }
  const devices: DeviceInput[] = [];
  for (const d of village.devices) {
    const bus = busOfDevice.get(d.id);
    if (bus === undefined) continue; // its bus could not be started (see endpoints.unavailable)
    devices.push({
      id: d.id,
      ...(d.name !== undefined ? { name: d.name } : {}),
      profile: d.profile,
      bus,
      unitId: d.unitId,
      location: { ...d.location },
    });
  }
  return {
    site: { id: village.site.id, name: village.site.name, ...(village.site.address !== undefined ? { address: village.site.address } : {}) },
    ...(opts.storageDir !== undefined ? { storage: { dir: opts.storageDir } } : {}),
    profiles: { dirs: opts.profileDirs ?? village.profileDirs },
    buses,
    devices,
    ...(opts.mqtt !== undefined ? { mqtt: opts.mqtt } : {}),
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  };
}
